import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sknlis import Activation, make_activation
from sknlis._activations import ACTIVATIONS

SMOOTH = ["identity", "logistic", "tanh", "softplus", "swish"]
finite_floats = st.floats(allow_nan=False, allow_infinity=False)


def all_activations():
    return [make_activation(name) for name in ACTIVATIONS] + [
        make_activation("swish", c1=0.0, c2=1.0, zeta=3.0)
    ]


@pytest.mark.parametrize("phi", all_activations(), ids=lambda a: a.name)
def test_divided_difference_matches_definition_away_from_zero(phi):
    z = np.array([-40.0, -3.0, -0.5, 0.1, 0.7, 2.0, 25.0, 800.0])
    expected = (phi(z) - phi.at_zero) / z
    np.testing.assert_allclose(phi.divided_difference(z), expected, rtol=1e-13)


@pytest.mark.parametrize("name", SMOOTH)
def test_divided_difference_is_continuous_at_zero(name):
    phi = make_activation(name)
    at_zero = phi.divided_difference(0.0)
    assert at_zero == pytest.approx(phi.derivative(0.0), rel=1e-15)
    for z in [1e-300, -1e-300, 5e-324, 1e-16, -1e-16, 1e-13, -1e-13]:
        assert phi.divided_difference(z) == pytest.approx(at_zero, rel=1e-12)


@pytest.mark.parametrize("name", SMOOTH)
def test_divided_difference_matches_high_precision_near_zero(name):
    # Mean of phi' over [0, z] by a fine Gauss-Legendre rule is D(z) without
    # any cancellation: an independent reference where the formula is delicate.
    phi = make_activation(name)
    nodes, weights = np.polynomial.legendre.leggauss(30)
    # Both sides of the switch to the series at |z| = 1e-8, and beyond.
    for z in [0.99e-8, 1.01e-8, -0.99e-8, -1.01e-8, 1e-7, -3e-6, 1e-4, -0.02, 0.3]:
        t = (nodes + 1) / 2 * z
        reference = np.sum(weights / 2 * phi.derivative(t))
        assert phi.divided_difference(z) == pytest.approx(reference, rel=1e-13)


@pytest.mark.parametrize("phi", all_activations(), ids=lambda a: a.name)
@given(z=finite_floats)
def test_divided_difference_is_finite_for_any_finite_input(phi, z):
    d = phi.divided_difference(np.array([z]))
    assert np.all(np.isfinite(d))
    assert np.all(np.isfinite(phi.derivative(np.array([z]))))


@pytest.mark.parametrize("phi", all_activations(), ids=lambda a: a.name)
def test_derivative_matches_central_differences(phi):
    z = np.array([-2.3, -0.4, 0.3, 1.7])
    h = 1e-6
    numeric = (phi(z + h) - phi(z - h)) / (2 * h)
    np.testing.assert_allclose(phi.derivative(z), numeric, rtol=1e-7, atol=1e-9)


def test_logistic_divided_difference_is_positive():
    # MATH.md: the paper prints a minus sign here; the identity needs a plus.
    phi = make_activation("logistic")
    assert np.all(phi.divided_difference(np.linspace(-5, 5, 11)) > 0)


def test_swish_matches_its_definition():
    phi = make_activation("swish", c1=1.0, c2=2.0, zeta=1.5)
    t = np.linspace(-4, 4, 9)
    sigma = 1 / (1 + np.exp(-1.5 * t))
    np.testing.assert_allclose(phi(t), t * (1 + (np.sqrt(2) - 1) * sigma))


def test_make_activation_rejects_unknown_names_and_bad_parameters():
    with pytest.raises(ValueError, match="'name' parameter of make_activation"):
        make_activation("gelu")
    with pytest.raises(ValueError, match="c1 < c2"):
        make_activation("swish", c1=2.0, c2=1.0)
    with pytest.raises(ValueError, match="zeta"):
        make_activation("swish", zeta=0.0)
    with pytest.raises(ValueError, match="'c2' parameter of make_activation"):
        make_activation("swish", c2=np.inf)
    # A string parameter raised numpy's "'<=' not supported" TypeError.
    with pytest.raises(TypeError, match="'c1' parameter of make_activation"):
        make_activation("swish", c1="1")
    with pytest.raises(TypeError, match="'zeta' parameter of make_activation"):
        make_activation("swish", zeta=None)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # An unknown name fell through to the swish formulas.
        ({"name": "gelu"}, ValueError, "name must be one of"),
        ({"name": ["tanh"]}, ValueError, "name must be one of"),
        ({"name": "swish", "c1": 3.0}, ValueError, "needs 0 <= c1 < c2"),
        ({"name": "swish", "zeta": np.inf}, ValueError, "zeta > 0, all finite"),
        ({"name": "tanh", "c1": "1"}, TypeError, "c1 must be a real number"),
        ({"name": "tanh", "zeta": True}, TypeError, "zeta must be a real number"),
    ],
)
def test_activation_built_directly_checks_its_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        Activation(**kwargs)
