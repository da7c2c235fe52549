"""Pointwise losses on a model's raw output, written as squares.

A loss here sees one row at a time: the model's raw output ``z`` (a scalar,
or a vector of ``K`` logits) and the label ``y``. It owns

* ``l(z, y)`` and ``dl/dz``: what the fit minimizes;
* the signed root ``h(z, y)`` with ``h**2 = l`` and ``dh/dz``: what the dual
  matrix is built from (MATH.md section 7);
* ``predict(z)``: the inverse link.

The loss dual matrix of a model with parameters ``theta`` has rows
``[int_0^1 grad_theta h(z(t theta), y) dt ; h(z(0), y)]``, so that its product
with ``[theta; 1]`` is ``h(z(theta), y)`` (IDENTITY A). For squared error the
root keeps its sign, ``h = f - y`` (``|f - y|`` would put a kink on the ray);
for log losses ``h = sqrt(l)``.

Models compute the integral along the ray ``t theta`` from ``dh/dz`` (by
Gauss-Legendre, :func:`ray_nodes`), or in closed form from
:meth:`root_secant` when the raw output is linear in ``theta``.
"""

import numpy as np
from scipy.special import expit, softmax

from sknlis._activations import _softplus, _softplus_divided_difference

__all__ = [
    "BinomialLogLoss",
    "MultinomialLogLoss",
    "SquaredError",
    "TweedieDeviance",
    "ray_nodes",
]

_SQRT_LOG2 = float(np.sqrt(np.log(2.0)))

# Gauss-Legendre nodes for the integrals along the ray. The integrands are
# analytic in t (softmax and sqrt of a positive loss), and 16 nodes reach
# rounding against a 64-node reference for logits up to |z| ~ 30; beyond,
# where the loss itself is below 1e-13, the models' identity correction keeps
# IDENTITY A exact (see the models' adjoints).
RAY_NODES = 16


def ray_nodes(n_nodes=RAY_NODES):
    """Gauss-Legendre nodes and weights on ``[0, 1]``."""
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    return (nodes + 1.0) / 2.0, weights / 2.0


def _safe_ratio(numerator, denominator):
    """``numerator / denominator`` with 0 where the denominator is 0.

    The roots' derivatives are ``l' / (2 sqrt(l))``; where ``l`` underflows to
    0 the numerator has underflowed too and the limit is 0.
    """
    return np.divide(
        numerator,
        denominator,
        out=np.zeros(np.broadcast_shapes(np.shape(numerator), np.shape(denominator))),
        where=denominator > 0,
    )


class SquaredError:
    """``l = (phi(z) - y)**2`` with an output activation ``phi``.

    ``phi`` is the single-index model's link (identity for the two-layer
    network, whose activations sit inside the model). Without labels
    (``y=None``) the root is the output ``phi(z)`` itself: the label-free
    dual matrix.
    """

    n_outputs = 1
    needs_labels = False

    def __init__(self, activation):
        self.activation = activation

    @property
    def is_residual(self):
        """Whether ``h = z - y``: the root is linear in the raw output."""
        return self.activation.name == "identity"

    def value_gradient(self, z, y, sample_weight):
        """``sum_i w_i l_i`` and ``w_i dl_i/dz`` (``z`` may be overwritten)."""
        f, dphi = _value_and_derivative(self.activation, z)
        f -= y
        if sample_weight is not None:
            total = float(f @ (sample_weight * f))
            f *= sample_weight
        else:
            total = float(f @ f)
        f *= 2.0
        if dphi is not None:
            f *= dphi
        return total, f

    def loss(self, z, y):
        return (self.activation(z) - y) ** 2

    def constant_fit(self, z, y, sample_weight):
        """The shift of ``z`` that minimizes the loss (identity ``phi``)."""
        return np.average(y - self.activation(z), weights=sample_weight)

    def root(self, z, y):
        f = self.activation(z)
        return f if y is None else f - y

    def curvature(self, z, y):
        """The Gauss-Newton curvature ``2 phi'(z)**2`` of the loss in ``z``."""
        return 2.0 * self.activation.derivative(z) ** 2

    def root_gradient(self, z, y):
        return self.activation.derivative(z)

    def root_secant(self, z, y):
        """``(h(z) - h(0)) / z``, the closed-form integral for linear ``z``."""
        return self.activation.divided_difference(z)

    def predict(self, z):
        return self.activation(z)


class BinomialLogLoss:
    """Log loss of a logit ``z`` for a label ``y`` in {0, 1}.

    With ``s = 1 - 2 y`` the loss is ``softplus(s z)``, so
    ``h = sqrt(softplus(s z))`` and ``h(0) = sqrt(log 2)``.
    """

    n_outputs = 1
    needs_labels = True
    is_residual = False

    def value_gradient(self, z, y, sample_weight):
        # softplus(s z) = max(z, 0) - y z + log1p(e) and expit(z) from the one
        # exponential e = exp(-|z|): half the time of logaddexp and expit,
        # which are scalar loops (the fit's loss is evaluated on every row).
        e = np.exp(-np.abs(z))
        losses = np.maximum(z, 0.0)
        losses -= y * z  # the large terms cancel before log1p(e) is added
        losses += np.log1p(e)
        gradient = np.where(z >= 0.0, 1.0, e)
        e += 1.0
        gradient /= e
        gradient -= y
        if sample_weight is None:
            return float(losses.sum()), gradient
        return float(losses @ sample_weight), gradient * sample_weight

    def loss(self, z, y):
        return _softplus((1.0 - 2.0 * y) * z)

    def constant_fit(self, z, y, sample_weight):
        """Log-odds of the weighted class frequency, less the mean logit."""
        mean = np.clip(np.average(y, weights=sample_weight), 1e-12, 1 - 1e-12)
        return np.log(mean / (1.0 - mean)) - np.average(z, weights=sample_weight)

    def root(self, z, y):
        return np.sqrt(self.loss(z, y))

    def curvature(self, z, y):
        """``d2 l / dz2 = p (1 - p)``."""
        p = expit(z)
        return p * (1.0 - p)

    def root_gradient(self, z, y):
        sign = 1.0 - 2.0 * y
        u = sign * z
        return sign * _safe_ratio(expit(u), 2.0 * np.sqrt(_softplus(u)))

    def root_secant(self, z, y):
        # (sqrt(sp(u)) - sqrt(log 2)) / u = D_sp(u) / (sqrt(sp(u)) + sqrt(log 2))
        # with D_sp = (sp(u) - log 2) / u evaluated without cancellation, and
        # (h(z) - h(0)) / z = s * that, u = s z, s = +-1.
        sign = 1.0 - 2.0 * y
        u = sign * z
        return sign * (
            _softplus_divided_difference(u) / (np.sqrt(_softplus(u)) + _SQRT_LOG2)
        )

    def predict(self, z):
        """Probability of the class coded 1."""
        return expit(z)


class MultinomialLogLoss:
    """Log loss ``logsumexp(z) - z_y`` of ``K`` logits for a class index ``y``."""

    needs_labels = True
    is_residual = False

    def __init__(self, n_classes):
        self.n_outputs = n_classes

    def value_gradient(self, Z, y, sample_weight):
        # log_softmax, written out: numpy's reductions along a short last axis
        # are ten times slower than a loop over the K columns (max) or a
        # matrix-vector product (sum), and flat indices beat 2-D fancy ones.
        n, K = Z.shape
        top = Z[:, 0].copy()
        for k in range(1, K):
            np.maximum(top, Z[:, k], out=top)
        gradient = Z - top[:, None]
        labelled = np.arange(n) * K + y
        losses = -gradient.ravel()[labelled]
        np.exp(gradient, out=gradient)
        total = gradient @ np.ones(K)
        losses += np.log(total)
        gradient /= total[:, None]
        gradient.ravel()[labelled] -= 1.0
        if sample_weight is None:
            return float(losses.sum()), gradient
        gradient *= sample_weight[:, None]
        return float(losses @ sample_weight), gradient

    def loss(self, Z, y):
        # log(1 + sum_{k != y} exp(z_k - z_y)) when y holds the largest logit,
        # so that a tiny loss keeps its digits (log_softmax would round it).
        rows = np.arange(Z.shape[0])
        top = Z.max(axis=1)
        others = np.exp(Z - top[:, None])
        others[rows, y] = 0.0
        rest = others.sum(axis=1)
        gap = top - Z[rows, y]
        return np.where(gap == 0.0, np.log1p(rest), gap + np.log(np.exp(-gap) + rest))

    def root(self, Z, y):
        return np.sqrt(self.loss(Z, y))

    def constant_fit(self, Z, y, sample_weight):
        """Log of the weighted class frequencies, less the mean logits."""
        counts = np.bincount(y, weights=sample_weight, minlength=self.n_outputs)
        log_prior = np.log(np.maximum(counts / counts.sum(), 1e-12))
        return log_prior - np.average(Z, axis=0, weights=sample_weight)

    def curvature(self, Z, y):
        """The Hessian in ``z``, ``diag(p) - p p^T``, of shape (n, K, K)."""
        P = softmax(Z, axis=1)
        W = -P[:, :, None] * P[:, None, :]
        W[:, np.arange(Z.shape[1]), np.arange(Z.shape[1])] += P
        return W

    def root_gradient(self, Z, y):
        rows = np.arange(Z.shape[0])
        P = softmax(Z, axis=1)
        # p_y - 1 as minus the other classes' mass: no cancellation near 1.
        P[rows, y] = 0.0
        P[rows, y] = -P.sum(axis=1)
        return _safe_ratio(P, 2.0 * self.root(Z, y)[:, None])

    root_secant = None

    def predict(self, Z):
        """Class probabilities."""
        return softmax(Z, axis=1)


def _exp_excess(u):
    """``exp(u) - 1 - u`` without cancellation near 0 (Taylor series there)."""
    u = np.asarray(u, dtype=float)
    small = np.abs(u) < 0.5
    out = np.empty_like(u)
    s = u[small]
    # 14 terms: 0.5**15 / 15! is below 1e-16 of the leading u**2 / 2.
    series = np.zeros_like(s)
    for k in range(15, 1, -1):
        series = (series + 1.0) * s / k
    out[small] = series * s
    with np.errstate(over="ignore"):
        out[~small] = np.expm1(u[~small]) - u[~small]
    return out


class TweedieDeviance:
    """Unit Tweedie deviance of a log-link output ``mu = exp(z)``, as a square.

    The per-row loss is the unit deviance ``d(y, mu)`` of power ``p``
    (``p = 1`` Poisson, ``p = 2`` Gamma); scikit-learn's GLMs minimize its
    mean half, ``sum_i d_i / (2 n)``, which scales every row alike. The root
    keeps the sign of ``mu - y`` (the deviance residual): it is smooth in
    ``z``, where ``sqrt(d)`` would have a kink at ``mu = y``.

    For ``y > 0`` with ``delta = z - log y``, ``a = 1 - p`` and ``b = 2 - p``,
    ``d / 2 = y**b * B(delta)`` with ``B = g(b delta) / b - g(a delta) / a``
    and ``g(u) = exp(u) - 1 - u`` (``g(c u) / c -> 0`` as ``c -> 0``): no
    term cancels near ``mu = y`` as the textbook formula's do. For ``y <= 0``
    (where the power allows it) every term of the textbook formula is
    non-negative.
    """

    n_outputs = 1
    needs_labels = True
    is_residual = False

    def __init__(self, power):
        self.power = float(power)
        self._a, self._b = 1.0 - self.power, 2.0 - self.power

    @staticmethod
    def _scaled_exp_excess(c, u):
        return _exp_excess(c * u) / c if c != 0 else np.zeros_like(u)

    def _parts(self, z, y):
        """``d``, ``dd/dz``, the mask ``y > 0`` and there ``B``, ``dB/ddelta``."""
        z, y = np.broadcast_arrays(np.asarray(z, float), np.asarray(y, float))
        a, b = self._a, self._b
        positive = y > 0
        delta = z[positive] - np.log(y[positive])
        B = self._scaled_exp_excess(b, delta) - self._scaled_exp_excess(a, delta)
        dB = np.exp(a * delta) * np.expm1(delta)
        scale = 2.0 * y[positive] ** b
        d, dd = np.empty_like(z), np.empty_like(z)
        d[positive], dd[positive] = scale * B, scale * dB
        rest, y_rest = z[~positive], y[~positive]
        mu_a, mu_b = np.exp(a * rest), np.exp(b * rest)
        # y <= 0 needs p < 2 (b > 0), and y < 0 needs p <= 0 (a >= 1). The
        # y**b term is max(y, 0)**b, except at p = 0: squared error.
        first = -y_rest * mu_a / a if a != 0 else np.zeros_like(rest)
        d[~positive] = 2.0 * (first + mu_b / b)
        if self.power == 0.0:
            d[~positive] += y_rest**2
        dd[~positive] = 2.0 * (mu_b - y_rest * mu_a)
        return d, dd, positive, B, dB

    def loss(self, z, y):
        return self._parts(z, y)[0]

    def value_gradient(self, z, y, sample_weight):
        d, dd, *_ = self._parts(z, y)
        if sample_weight is None:
            return float(d.sum()), dd
        return float(d @ sample_weight), dd * sample_weight

    def root(self, z, y):
        d, dd, *_ = self._parts(z, y)
        return np.copysign(np.sqrt(d), dd)

    def root_gradient(self, z, y):
        d, dd, positive, B, dB = self._parts(z, y)
        out = _safe_ratio(np.abs(dd), 2.0 * np.sqrt(d))
        # With y > 0, h = sqrt(2 y**b) sign(delta) sqrt(B), whose derivative
        # |B'| / (2 sqrt B) tends to 1 / sqrt(2) at mu = y, where B = 0.
        ratio = np.full(B.shape, np.sqrt(0.5))
        np.divide(np.abs(dB), 2.0 * np.sqrt(B), out=ratio, where=B > 0)
        y_positive = np.broadcast_to(np.asarray(y, float), out.shape)[positive]
        out[positive] = np.sqrt(2.0 * y_positive**self._b) * ratio
        return out

    def root_secant(self, z, y):
        """``(h(z) - h(0)) / z``, by the midpoint derivative for tiny ``|z|``.

        The difference quotient loses ``eps / |z|`` of its relative digits;
        below ``|z| = 1e-5`` the midpoint rule's error, ``z**2 h'''(z) / 24``,
        is the smaller.
        """
        z, y = np.broadcast_arrays(np.asarray(z, float), np.asarray(y, float))
        tiny = np.abs(z) < 1e-5
        big = ~tiny
        out = np.empty_like(z)
        h_zero = self.root(np.zeros(int(big.sum())), y[big])
        out[big] = (self.root(z[big], y[big]) - h_zero) / z[big]
        out[tiny] = self.root_gradient(z[tiny] / 2.0, y[tiny])
        return out

    def curvature(self, z, y):
        """The expected (Fisher) curvature ``2 mu**(2 - p)`` of ``d`` in ``z``.

        The observed one, ``2 ((2 - p) mu**(2 - p) - (1 - p) y mu**(1 - p))``,
        can be negative; the expected one is the Gauss-Newton analogue.
        """
        return 2.0 * np.exp(self._b * np.asarray(z, dtype=float))

    def predict(self, z):
        """The mean ``mu = exp(z)``."""
        return np.exp(z)


def _value_and_derivative(phi, z):
    """``phi(z)`` (in a new array or in ``z``) and ``phi'(z)`` (None if 1).

    The swish-type activation shares its sigmoid between the two, which
    halves the elementwise work of the single-index fit.
    """
    if phi.name == "identity":
        return z, None
    if phi.name != "swish":
        return phi(z), phi.derivative(z)
    gap = np.sqrt(phi.c2) - np.sqrt(phi.c1)
    s = expit(phi.zeta * z)
    D = gap * s
    D += np.sqrt(phi.c1)  # D(z) = phi(z) / z
    s *= 1.0 - s
    s *= (gap * phi.zeta) * z
    s += D  # phi'(z) = D(z) + gap * zeta * z * sigmoid' (zeta z)
    D *= z
    return D, s
