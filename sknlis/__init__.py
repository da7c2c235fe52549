"""Importance sampling for nonlinear models, with scikit-learn estimators.

The numerical core works on plain arrays: activations, nonlinear adjoints and
dual matrices, leverage and row-norm scores, and weighted sampling. The
regressors and classifiers fit the paper's two models and expose their
(loss) dual matrices; the resampler and the outlier detector score rows by
them.
"""

from sknlis._activations import Activation, make_activation
from sknlis._adapters import adjoint_matrix, parameter_vector
from sknlis._adjoint import quadrature_adjoint, single_index_adjoint, two_layer_adjoint
from sknlis._classifiers import SingleIndexClassifier, TwoLayerReLUClassifier
from sknlis._outliers import AdjointOutlierDetector
from sknlis._regressors import SingleIndexRegressor, TwoLayerReLURegressor
from sknlis._resampler import NonlinearImportanceResampler
from sknlis._sampling import importance_sample
from sknlis._scores import leverage_scores, norm_scores

__version__ = "0.1.0.dev0"

__all__ = [
    "Activation",
    "AdjointOutlierDetector",
    "NonlinearImportanceResampler",
    "SingleIndexClassifier",
    "SingleIndexRegressor",
    "TwoLayerReLUClassifier",
    "TwoLayerReLURegressor",
    "adjoint_matrix",
    "importance_sample",
    "leverage_scores",
    "make_activation",
    "norm_scores",
    "parameter_vector",
    "quadrature_adjoint",
    "single_index_adjoint",
    "two_layer_adjoint",
]
