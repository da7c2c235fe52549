"""
Mislabeled digits, found by the leave-one-out log loss
======================================================

A classifier fitted to data with a few wrong labels can still say which
labels are wrong: a mislabeled row is one the rest of the data disagree
with. :class:`sknlis.AdjointOutlierDetector` with a classifier scores every
training row by its approximate *leave-one-out* log loss, how unlikely its
label is under the model fitted without it, from a single fit.

Here the model is :class:`sknlis.SingleIndexClassifier` (multinomial
logistic regression) on scikit-learn's 8x8 digits, all ten classes, with 3%
of the labels replaced by another digit on purpose, so that we know which
rows are wrong.
"""

# %%
# Ten classes with planted label errors
# -------------------------------------
# Each of 54 randomly chosen images gets a label drawn uniformly from the
# nine wrong digits. The pixels are standardized; the flips are never shown
# to the detector.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sknlis import AdjointOutlierDetector, SingleIndexClassifier

images, digits = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(images)

rng = np.random.default_rng(0)
n_flips = round(0.03 * len(digits))
flipped = rng.choice(len(digits), n_flips, replace=False)
y = digits.copy()
y[flipped] = (y[flipped] + rng.integers(1, 10, n_flips)) % 10
is_flipped = np.zeros(len(y), bool)
is_flipped[flipped] = True
print(f"{len(y)} images, {n_flips} labels flipped")

# %%
# Score every row by its leave-one-out log loss
# ---------------------------------------------
# ``scores_`` holds the training rows' scores (normalized to sum 1; higher
# is more likely mislabeled), ``fit_predict`` their flags: -1 for the rows
# whose leave-one-out model gives their label less than even odds
# (``contamination="auto"``). The ranking is what matters most: among the
# ``k`` highest scores, how many are planted flips?
detector = AdjointOutlierDetector(SingleIndexClassifier(), random_state=0)
flagged = detector.fit_predict(X, y) == -1
ranking = np.argsort(-detector.scores_, kind="stable")

for k in (20, n_flips, 2 * n_flips):
    precision = is_flipped[ranking[:k]].mean()
    print(f"precision among the top {k:3d}: {precision:.2f}")
print(
    f"flagged {flagged.sum()} rows: {is_flipped[flagged].sum()} of the "
    f"{n_flips} flips (the flagged set trades precision for recall)"
)

# %%
# The top of the ranking, and the first correct labels in it
# ----------------------------------------------------------
# Each image is titled with its rank, the label it was given and the digit
# predicted for it by the model fitted *without* it. The detector
# approximated that model without refitting; here we refit once per shown
# image (20 fits) to see the real thing. The top row shows the 15 highest
# scores, a red frame marking a planted flip; the bottom row shows the five
# highest-ranked images whose given label is the drawn digit.
clean_ranked = ranking[~is_flipped[ranking]]
panels = {
    "the 15 highest scores": ranking[:15],
    "the highest-ranked correct labels": clean_ranked[:5],
}
rank_of = np.empty(len(y), int)
rank_of[ranking] = np.arange(1, len(y) + 1)


def left_out_prediction(i):
    """The digit predicted for image ``i`` by the model fitted without it."""
    keep = np.arange(len(y)) != i
    model = SingleIndexClassifier(random_state=0).fit(X[keep], y[keep])
    return model.predict(X[i : i + 1])[0]


fig = plt.figure(figsize=(7.5, 8.4), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[3, 1.25], hspace=0.05)
for subfigure, (title, rows) in zip((top, bottom), panels.items()):
    subfigure.suptitle(title, fontsize=11)
    axes = subfigure.subplots(len(rows) // 5, 5, squeeze=False)
    for ax, i in zip(axes.ravel(), rows):
        ax.imshow(images[i].reshape(8, 8), cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(
            f"#{rank_of[i]}: given {y[i]}\nleft out: {left_out_prediction(i)}",
            fontsize=9,
            pad=3,
        )
        color, width = ("red", 3) if is_flipped[i] else ("lightgray", 1)
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(width)
fig.suptitle("Digits 0-9 with 3% of the labels flipped (red frames)", fontsize=13)
plt.show()

# %%
# What to read from this
# ----------------------
# The top of the ranking is made of planted flips, and for each of them the
# model fitted without it predicts the digit that was actually drawn. The
# first correct labels in the ranking are badly drawn or ambiguous digits:
# the model fitted without them doubts their label too. The
# in-sample loss of the same fit would rank them less well: a model fitted
# *with* a wrong label moves towards it, so its loss understates the error.
# The leave-one-out score removes that pull from one fit, through the row's
# leverage in the curvature-weighted Jacobian. The benchmark
# ``benchmarks/bench_label_errors.py`` compares it with cleanlab on
# out-of-fold probabilities, over more tasks, seeds and kinds of noise.
