"""
Unusual and mislabeled digits, by nonlinear and by linear leverage
==================================================================

The rows a nonlinear model finds most unusual are anomalies, hard cases and
mislabeled points; the rows it finds least unusual are the easy ones. This is
the paper's Figure 2 on scikit-learn's 8x8 digits: a binary task (3 vs 8)
with 5% of the labels flipped on purpose, so that we know which rows are
wrong.

:class:`sknlis.AdjointOutlierDetector` scores every image by its row in the
nonlinear dual matrix of a fitted single-index logistic model. Its default
score, ``"balanced"``, weighs the input part (the leverage of the model's
adjoint rows) and the label part (the residual direction) equally, so it sees
wrong labels as well as strange images. The linear baseline scores the pixels
alone: the leverage of ``[X, 1]``, which knows neither the model nor the
labels.
"""

# %%
# A binary digit task with planted label errors
# ---------------------------------------------
# Labels are 0 for a 3 and 1 for an 8; 5% of them are flipped. The model is
# ``phi(<w, x> + b)`` with the logistic ``phi``, fitted by least squares on
# standardized pixels.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sknlis import AdjointOutlierDetector, SingleIndexRegressor, leverage_scores

images, digits = load_digits(return_X_y=True)
pair = np.isin(digits, (3, 8))
X_pixels = images[pair]
y = (digits[pair] == 8).astype(float)

rng = np.random.default_rng(0)
flipped = rng.choice(len(y), round(0.05 * len(y)), replace=False)
y[flipped] = 1 - y[flipped]
is_flipped = np.zeros(len(y), bool)
is_flipped[flipped] = True
X = StandardScaler().fit_transform(X_pixels)
print(f"{len(y)} images, {is_flipped.sum()} labels flipped")

# %%
# Nonlinear and linear scores
# ---------------------------
# ``scores_`` holds every training row's normalized score (summing to 1,
# higher is more unusual). The paper's own leverage is
# ``scores="leverage"``; we print how many flipped labels each score puts
# in its top 25.
model = SingleIndexRegressor("logistic", random_state=0)
detector = AdjointOutlierDetector(model).fit(X, y)
paper = AdjointOutlierDetector(detector.estimator_, scores="leverage", prefit=True)
paper.fit(X, y)
linear = leverage_scores(np.column_stack([X, np.ones(len(y))]))

scores = {
    "nonlinear (balanced)": detector.scores_,
    "nonlinear (paper's leverage)": paper.scores_,
    "linear leverage": linear,
}
for name, score in scores.items():
    top = np.argsort(-score)[:25]
    print(f"{name:>30s}: {is_flipped[top].sum()} of the 25 top rows are flipped")
flagged = detector.predict(X, y) == -1
print(
    f"contamination='auto' flags {flagged.sum()} rows, "
    f"{is_flipped[flagged].sum()} of the {is_flipped.sum()} flipped ones"
)

# %%
# The 25 highest- and lowest-scoring images
# -----------------------------------------
# Each image is titled with its label as the model saw it (3 or 8); a red
# frame marks a planted label error. The nonlinear score's top images are the
# mislabeled ones and oddly drawn digits; its bottom images are clean,
# typical 3s and 8s. The linear score's top images are merely unusual pixel
# patterns, blind to the labels.


def show_grid(figure, title, rows):
    figure.suptitle(title, fontsize=11)
    axes = figure.subplots(5, 5)
    for ax, i in zip(axes.ravel(), rows):
        ax.imshow(X_pixels[i].reshape(8, 8), cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{3 if y[i] == 0 else 8}", fontsize=8, pad=2)
        color, width = ("red", 3) if is_flipped[i] else ("lightgray", 1)
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(width)


fig = plt.figure(figsize=(10, 10.5), layout="constrained")
panels = fig.subfigures(2, 2, hspace=0.04, wspace=0.04)
for column, name in enumerate(("nonlinear (balanced)", "linear leverage")):
    order = np.argsort(-scores[name], kind="stable")
    show_grid(panels[0, column], f"highest: {name}", order[:25])
    show_grid(panels[1, column], f"lowest: {name}", order[-25:])
fig.suptitle("Digits 3 vs 8, 5% labels flipped (red frames)", fontsize=13)
plt.show()

# %%
# What to read from this
# ----------------------
# The paper's leverage finds few of the flipped labels: in the dual matrix the
# label enters through one direction (the residual) against ``p = 65`` model
# directions, so it carries about ``1 / n`` of a row's leverage while the
# input carries about ``p / n``. The ``"balanced"`` score gives the two parts
# equal weight, and the flipped labels rise to the top; unusual images still
# score high through the input part. The linear leverage of the pixels knows
# nothing of the labels and finds almost none of them. The benchmark
# ``benchmarks/bench_outliers.py`` measures this on more pairs, on images of
# other digits mixed in, and on corrupted regression data.
