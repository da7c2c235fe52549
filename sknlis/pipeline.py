"""Pipelines whose samplers' importance weights reach the final estimator.

imbalanced-learn's :class:`~imblearn.pipeline.Pipeline` hands a sampler's
``(X, y)`` to the next step and nothing else (its issue #457), so a refit after
importance sampling minimizes a score-reweighted loss: biased toward the rows
the scores favour. :class:`Pipeline` here is that pipeline with one change:
``fit`` multiplies the ``sample_weight_`` of every sampler step into the
``sample_weight`` of the final estimator's ``fit``, together with any weight
the user routes to it. Prediction and scoring are unchanged (all rows).

In any other pipeline the weights are lost.
"""

import inspect

import numpy as np
from imblearn.pipeline import Pipeline as _ImbPipeline
from sklearn.base import _fit_context
from sklearn.pipeline import _name_estimators
from sklearn.utils._user_interface import _print_elapsed_time
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import _num_samples, has_fit_parameter

__all__ = ["Pipeline", "make_pipeline"]


class Pipeline(_ImbPipeline):
    """imbalanced-learn's Pipeline, passing importance weights to the refit.

    Parameters, attributes and methods are those of
    :class:`imblearn.pipeline.Pipeline`. :meth:`fit` differs: after the
    samplers and transformers ran, the final estimator is fitted with
    ``sample_weight = user_weight[rows] * w_1 * w_2 * ...`` where ``rows`` are
    the input rows that reached it and ``w_k`` the ``sample_weight_`` of each
    sampler step (samplers without it count as weight 1). A final step whose
    ``fit`` takes no ``sample_weight`` raises a ``TypeError``, and so do
    :meth:`fit_predict` and :meth:`fit_transform` when a sampler is among the
    steps: neither drops the weights silently.

    Parameters
    ----------
    steps : list of tuples
        ``(name, transform or sampler)`` pairs, the last one an estimator.
    transform_input : list of str, default=None
        See :class:`imblearn.pipeline.Pipeline`.
    memory : str or object with the joblib.Memory interface, default=None
        Caches the fitted transformers and samplers.
    verbose : bool, default=False
        Print the time each step takes.

    Attributes
    ----------
    named_steps : :class:`~sklearn.utils.Bunch`
        Access the steps by name.
    sample_weight_ : ndarray of shape (n_rows_refit,) or None
        The weights the final estimator was fitted with (``None`` if no step
        gave any and the user routed none).

    See Also
    --------
    make_pipeline : Build one without naming the steps.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sknlis import NonlinearImportanceResampler
    >>> from sknlis.pipeline import Pipeline
    >>> X, y = load_diabetes(return_X_y=True)
    >>> pipe = Pipeline([
    ...     ("sample", NonlinearImportanceResampler(basis="linear", n_samples=0.2,
    ...                                             random_state=0)),
    ...     ("ridge", Ridge(alpha=1e-3)),
    ... ]).fit(X, y)
    >>> pipe.sample_weight_.shape
    (88,)
    """

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **params):
        """Fit the steps in turn; the final one with the importance weights.

        Parameters
        ----------
        X : iterable
            Training data, as the first step accepts it.
        y : iterable, default=None
            Training targets.
        **params : dict of str -> object
            ``step__param`` parameters for the steps' ``fit``. A
            ``sample_weight`` for the final step must have one entry per input
            row: it is subset to the rows that reach the final step.

        Returns
        -------
        self : Pipeline
        """
        if self.transform_input is not None and not _routing_enabled():
            raise ValueError(
                "transform_input can only be set with metadata routing enabled: "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        routed_params = self._check_method_params(method="fit", props=params)
        Xt, yt = self._fit(X, y, routed_params, raw_params=params)
        final_name, final = self.steps[-1]
        if final is None or final == "passthrough":
            self.sample_weight_ = None
            return self
        final_params = dict(
            self._get_metadata_for_step(
                step_idx=len(self) - 1,
                step_params=routed_params[final_name],
                all_params=params,
            )["fit"]
        )
        user_weight = final_params.pop("sample_weight", None)
        weight = self._refit_weight(user_weight, _num_samples(X))
        if weight is not None:
            if not _accepts_sample_weight(final):
                raise TypeError(
                    f"The final step {final_name!r} ({type(final).__name__}) does "
                    "not accept sample_weight in fit, so the importance weights "
                    "would be lost and the refit biased. Use an estimator whose "
                    "fit takes sample_weight."
                )
            final_params["sample_weight"] = weight
        self.sample_weight_ = weight
        with _print_elapsed_time("Pipeline", self._log_message(len(self.steps) - 1)):
            final.fit(Xt, yt, **final_params)
        return self

    def _refuse_if_sampling(self, method):
        # imbalanced-learn's versions fit the final step on the sampled rows
        # without their weights: the biased refit this class exists to avoid.
        samplers = [
            name for name, step in self.steps[:-1] if hasattr(step, "fit_resample")
        ]
        if samplers:
            raise TypeError(
                f"{method} would fit the final step without the importance "
                f"weights of {', '.join(map(repr, samplers))}; call fit, then "
                "predict or transform."
            )

    def fit_predict(self, X, y=None, **params):
        """Like :meth:`imblearn.pipeline.Pipeline.fit_predict`, without samplers.

        With a sampler among the steps it raises a ``TypeError``: fit the
        pipeline with :meth:`fit` (which passes the weights on), then predict.
        """
        self._refuse_if_sampling("fit_predict")
        return super().fit_predict(X, y, **params)

    def fit_transform(self, X, y=None, **params):
        """Like :meth:`imblearn.pipeline.Pipeline.fit_transform`, without samplers.

        With a sampler among the steps it raises a ``TypeError``: fit the
        pipeline with :meth:`fit` (which passes the weights on), then transform.
        """
        self._refuse_if_sampling("fit_transform")
        return super().fit_transform(X, y, **params)

    def _refit_weight(self, user_weight, n_rows):
        """Chain the samplers' row selections and weights, from input to refit."""
        weight = None if user_weight is None else np.asarray(user_weight, float)
        if weight is not None and weight.shape != (n_rows,):
            raise ValueError(
                f"sample_weight for the final step must have one entry per input "
                f"row ({n_rows}); got shape {weight.shape}."
            )
        for name, step in self.steps[:-1]:
            if not hasattr(step, "fit_resample"):
                continue
            rows = getattr(step, "sample_indices_", None)
            if rows is None:
                if weight is not None:
                    raise ValueError(
                        f"Step {name!r} has no sample_indices_, so the weights "
                        "cannot follow its rows to the final step."
                    )
                continue
            weight = None if weight is None else weight[rows]
            step_weight = getattr(step, "sample_weight_", None)
            if step_weight is not None:
                weight = step_weight if weight is None else weight * step_weight
        return weight


def _accepts_sample_weight(estimator):
    """``fit`` takes ``sample_weight`` by name or through ``**kwargs``."""
    if has_fit_parameter(estimator, "sample_weight"):
        return True
    parameters = inspect.signature(estimator.fit).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Build a :class:`Pipeline` from steps, naming each by its class.

    Parameters
    ----------
    *steps : list of estimators
        Transformers and samplers, then the final estimator.
    memory : str or object with the joblib.Memory interface, default=None
        Caches the fitted transformers and samplers.
    transform_input : list of str, default=None
        See :class:`imblearn.pipeline.Pipeline`.
    verbose : bool, default=False
        Print the time each step takes.

    Returns
    -------
    p : Pipeline

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sknlis import NonlinearImportanceResampler
    >>> from sknlis.pipeline import make_pipeline
    >>> make_pipeline(NonlinearImportanceResampler(), Ridge()).steps[0][0]
    'nonlinearimportanceresampler'
    """
    return Pipeline(
        _name_estimators(steps),
        memory=memory,
        transform_input=transform_input,
        verbose=verbose,
    )
