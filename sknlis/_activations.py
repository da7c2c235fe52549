"""Scalar activations with their derivative and divided difference.

The adjoint of ``phi(h(theta))`` with ``h`` positively homogeneous needs the
divided difference ``D(z) = (phi(z) - phi(0)) / z``. Computed literally it
cancels catastrophically near ``z = 0`` and divides by zero at ``z = 0``, so
every activation here gives an algebraically stable form and, below
``_SERIES_BELOW``, its Taylor series (which also keeps subnormal ``z`` away
from the division).
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy.special import expit
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["Activation", "make_activation", "ACTIVATIONS"]

# Below this |z| the first two Taylor terms of D are exact to double precision
# for every activation here (the next term is O(z**2) ~ 1e-16 relative or less).
_SERIES_BELOW = 1e-8

ACTIVATIONS = ("identity", "logistic", "tanh", "softplus", "relu", "swish")


def _with_series(z, series, general):
    """Evaluate ``series`` where ``|z|`` is tiny and ``general`` elsewhere."""
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < _SERIES_BELOW
    out = np.empty_like(z)
    out[small] = series(z[small])
    big = ~small
    out[big] = general(z[big])
    return out


def _tanh_ratio(u):
    """``tanh(u) / u``, continuous at 0 and finite for every finite ``u``."""
    return _with_series(u, lambda s: 1.0 - s * s / 3.0, lambda g: np.tanh(g) / g)


def _softplus(z):
    return np.logaddexp(0.0, z)


def _softplus_divided_difference(z):
    # softplus(z) - log 2 = log1p(expm1(z) / 2) has no cancellation near 0;
    # above 30 expm1 may overflow but there is no cancellation to avoid.
    def general(g):
        out = np.empty_like(g)
        low = g <= 30.0
        out[low] = np.log1p(np.expm1(g[low]) / 2.0) / g[low]
        high = ~low
        out[high] = (_softplus(g[high]) - np.log(2.0)) / g[high]
        return out

    return _with_series(z, lambda s: 0.5 + s / 8.0, general)


@dataclass(frozen=True)
class Activation:
    """A scalar activation ``phi`` with ``phi'`` and its divided difference.

    Build one with :func:`make_activation`. All three methods are vectorised
    over arrays of any shape and return float arrays of the same shape.

    Attributes
    ----------
    name : str
        One of ``"identity"``, ``"logistic"``, ``"tanh"``, ``"softplus"``,
        ``"relu"`` and ``"swish"``.
    c1, c2, zeta : float
        Parameters of the swish-type activation
        ``phi(t) = t * (sqrt(c1) + (sqrt(c2) - sqrt(c1)) * sigmoid(zeta * t))``;
        ignored by the others.
    """

    name: str
    c1: float = 1.0
    c2: float = 2.0
    zeta: float = 1.0

    def __post_init__(self):
        # Built directly, an unknown name fell through to the swish formulas.
        if not isinstance(self.name, str) or self.name not in ACTIVATIONS:
            raise ValueError(
                f"name must be one of {', '.join(map(repr, ACTIVATIONS))}; "
                f"got {self.name!r}."
            )
        for field in ("c1", "c2", "zeta"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(f"{field} must be a real number; got {value!r}.")
        if self.name == "swish" and not (
            0 <= self.c1 < self.c2 < np.inf and 0 < self.zeta < np.inf
        ):
            raise ValueError(
                "The swish activation needs 0 <= c1 < c2 and zeta > 0, all "
                f"finite; got c1={self.c1!r}, c2={self.c2!r}, zeta={self.zeta!r}."
            )

    def __call__(self, z):
        """Return ``phi(z)``."""
        z = np.asarray(z, dtype=float)
        if self.name == "identity":
            return z.copy()
        if self.name == "logistic":
            return expit(z)
        if self.name == "tanh":
            return np.tanh(z)
        if self.name == "softplus":
            return _softplus(z)
        if self.name == "relu":
            return np.maximum(z, 0.0)
        return z * self.divided_difference(z)

    @property
    def at_zero(self):
        """``phi(0)``, the constant the adjoint's last column carries."""
        return {"logistic": 0.5, "softplus": float(np.log(2.0))}.get(self.name, 0.0)

    def derivative(self, z):
        """Return ``phi'(z)``; for ReLU the derivative at 0 is taken as 0."""
        z = np.asarray(z, dtype=float)
        if self.name == "identity":
            return np.ones_like(z)
        if self.name == "logistic":
            s = expit(z)
            return s * (1.0 - s)
        if self.name == "tanh":
            return 1.0 - np.tanh(z) ** 2
        if self.name == "softplus":
            return expit(z)
        if self.name == "relu":
            return (z > 0).astype(float)
        s = self._gate(z)
        gap = np.sqrt(self.c2) - np.sqrt(self.c1)
        # s (1 - s) first: it vanishes before z can overflow the product.
        return self.divided_difference(z) + gap * self.zeta * (s * (1.0 - s) * z)

    def divided_difference(self, z):
        """Return ``D(z) = (phi(z) - phi(0)) / z`` with ``D(0) = phi'(0)``.

        For ReLU, ``D(z) = 1{z > 0}``: the ray ``t * z`` never changes sign, so
        the value at exactly 0 is arbitrary and 0 keeps ``z * D(z) = relu(z)``.
        """
        z = np.asarray(z, dtype=float)
        if self.name == "identity":
            return np.ones_like(z)
        if self.name == "logistic":
            # (sigmoid(z) - 1/2) / z = tanh(z/2) / (2z): positive (MATH.md 3).
            return 0.25 * _tanh_ratio(z / 2.0)
        if self.name == "tanh":
            return _tanh_ratio(z)
        if self.name == "softplus":
            return _softplus_divided_difference(z)
        if self.name == "relu":
            return (z > 0).astype(float)
        # The swish-type phi is z times a bounded factor: D is that factor.
        gap = np.sqrt(self.c2) - np.sqrt(self.c1)
        return np.sqrt(self.c1) + gap * self._gate(z)

    def _gate(self, z):
        # zeta * z may overflow to +-inf, where the sigmoid is exactly 1 or 0.
        with np.errstate(over="ignore"):
            return expit(self.zeta * z)


@validate_params(
    {
        "name": [StrOptions(set(ACTIVATIONS))],
        "c1": [Interval(Real, 0, None, closed="left")],
        "c2": [Interval(Real, 0, None, closed="neither")],
        "zeta": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def make_activation(name, *, c1=1.0, c2=2.0, zeta=1.0):
    """Return the :class:`Activation` called ``name``.

    Parameters
    ----------
    name : {"identity", "logistic", "tanh", "softplus", "relu", "swish"}
        The activation.
    c1, c2 : float, default=1.0, 2.0
        Swish-type parameters, finite, ``0 <= c1 < c2``; ignored by the other
        activations. The paper's regression experiments use ``c1=1, c2=2``.
    zeta : float, default=1.0
        Swish-type slope, finite and positive.

    Returns
    -------
    activation : Activation

    Examples
    --------
    >>> from sknlis import make_activation
    >>> phi = make_activation("logistic")
    >>> float(phi.divided_difference(0.0))  # phi'(0) = 1/4
    0.25
    >>> swish = make_activation("swish", c1=1.0, c2=2.0)
    >>> round(float(swish(1.0)), 4)
    1.3028
    """
    # Types, signs and finiteness are checked by validate_params (inside an
    # estimator's fit, by its own constraints); c1 < c2 by Activation.
    return Activation(name, float(c1), float(c2), float(zeta))
