"""The paper's model families as small objects on a flat ``theta``.

A model maps rows ``X`` and parameters ``theta`` to a raw output ``z``: one
value per row, or ``K`` logits. It owns, once:

* ``unpack(theta)``: the parameter blocks its products use;
* ``forward(X, params)``: ``z`` and what the backward pass reuses;
* ``vjp(X, params, cache, G, out)``: adds ``sum_i G_i . dz_i/dtheta`` to
  ``out`` (the gradient of a loss, without forming the Jacobian);
* ``jacobian(X, theta)``: the rows ``dz_i/dtheta`` (for checks and tests);
* ``adjoint(X, theta, loss, y, out=None)``: the rows of the loss dual
  matrix ``[int_0^1 grad h_i(t theta) dt ; h_i(0)]`` for a pointwise
  ``loss`` of :mod:`sknlis._losses`, so that ``rows @ [theta; 1] =
  h(z(theta), y)``, written into ``out`` when given
  (:func:`adjoint_in_blocks` runs it a few thousand rows at a time).

It also says its sizes: ``n_params``, ``n_outputs``, ``row_width`` (values
per row a block holds, for block sizes) and ``piece_width`` (values per row
of its widest temporary, for the pieces :func:`adjoint_in_blocks` runs).

Both families here are sums of positively homogeneous terms, so along the
ray ``t theta`` the integrals reduce to one or two scalars per row (and per
logit) times a Jacobian row: the "adjoint factor" of MATH.md sections 3 and 7.
A third family, scikit-learn's multi-layer perceptron of any depth, has no
such structure and takes the quadrature of MATH.md section 3 (the adapters
for fitted scikit-learn estimators use it).

Single-index model (Example 3.1)::

    z = <w, x> + b,    theta = [w; b]          (K logits: one [w_k; b_k] each)

Two-layer ReLU network (Example 3.2), hidden biases inside ``b_j``::

    z_k = sum_j phi(a_kj relu(<b_j, [x; 1]>)) + c_k,
    theta = [a_1, b_1, ..., a_m, b_m, c]      (a_j holds a_1j..a_Kj)

``b`` and ``c`` are present only when ``fit_intercept`` is true.
"""

from typing import NamedTuple

import numpy as np

from sknlis._activations import make_activation
from sknlis._losses import RAY_NODES, ray_nodes
from sknlis._validation import check_block_size, row_blocks, scratch_rows

__all__ = ["LinearIndex", "MultiLayerPerceptron", "TwoLayerReLU", "raw_output"]


def _augment(X, fit_intercept):
    """``[X, 1]`` when the model has an intercept, else ``X``."""
    if not fit_intercept:
        return X
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


def _squeeze(Z):
    """One output as a vector, ``K`` as an ``(n, K)`` array."""
    return Z[:, 0] if Z.shape[1] == 1 else Z


def _as_columns(G):
    return G[:, None] if G.ndim == 1 else G


def _column_sums(G):
    """``G.sum(axis=0)`` of a tall ``(n, K)`` array.

    numpy's reduction along the long axis of a C-ordered array with a few
    columns is several times slower than a matrix-vector product; a single
    column is contiguous and numpy's own sum is the fastest.
    """
    return G.sum(axis=0) if G.shape[1] == 1 else np.ones(G.shape[0]) @ G


def _conserve(factors, directions, target):
    """Correct quadrature ``factors`` so that IDENTITY A holds to rounding.

    Along the ray ``d/dt h(z(t)) = sum_q factors_q-integrand * directions_q``,
    so the exact integrals satisfy ``sum_q factors_q * directions_q = target``
    (``h(theta) - h(0)``). The smallest change that restores it, row by row,
    moves the factors along ``directions``. It is at the level of the
    quadrature error, which the tests bound separately.
    """
    excess = target - np.einsum("ik,ik->i", factors, directions)
    norm2 = np.einsum("ik,ik->i", directions, directions)
    step = np.divide(excess, norm2, out=np.zeros_like(excess), where=norm2 > 0)
    return factors + step[:, None] * directions


def raw_output(model, X, theta, block_size=None):
    """``z(theta)`` for every row of ``X``, computed in row blocks.

    Temporaries stay one block's worth (about 8 MiB by default): the
    two-layer pass allocates ``n_hidden`` values per row.
    """
    params = model.unpack(theta)
    block_size = check_block_size(block_size, model.row_width)
    n = X.shape[0]
    out = np.empty((n, model.n_outputs))
    for start, stop in row_blocks(n, block_size):
        z, _ = model.forward(X[start:stop], params)
        out[start:stop] = _as_columns(z)
    return _squeeze(out)


def _dense_gram(model, X, theta, W):
    """``sum_i J_i^T W_i J_i`` from the dense Jacobian rows (any model)."""
    J = _stacked(model.jacobian(X, theta))
    WJ = np.matmul(W, J)
    return J.reshape(-1, model.n_params).T @ WJ.reshape(-1, model.n_params)


def _dense_quadratic(model, X, theta, M):
    """``J_i M J_i^T`` for every row (any model), shape (n, K, K)."""
    J = _stacked(model.jacobian(X, theta))
    T = (J.reshape(-1, model.n_params) @ M).reshape(J.shape)
    return np.matmul(T, J.transpose(0, 2, 1))


def _stacked(J):
    """Jacobian rows as (n, K, p), one output included."""
    return J[:, None, :] if J.ndim == 2 else J


def adjoint_in_blocks(
    model,
    X,
    theta,
    loss,
    y,
    *,
    block_size=None,
    out=None,
    n_nodes=RAY_NODES,
    scratch=None,
):
    """The loss dual matrix of ``X`` (``model.adjoint``), into ``out`` if given.

    ``X`` may be float32 or any dense or sparse layout, and float labels
    ``y`` any float dtype: each piece is converted to C-ordered float64 in
    one buffer, reused. The model runs on pieces of at most ``block_size``
    rows whose per-row vectors stay below glibc's mmap threshold
    (:func:`sknlis._validation.scratch_rows`), so they come from the heap
    instead of as fresh pages. ``scratch`` (a dict) keeps the buffers for
    the next call: a caller that computes many blocks passes the same one,
    and converts without allocating.
    """
    n = X.shape[0]
    if out is None:
        out = np.empty((n, theta.shape[0] + 1))
    step = min(
        check_block_size(block_size, model.row_width),
        scratch_rows(model.piece_width),
    )
    scratch = {} if scratch is None else scratch
    for start, stop in row_blocks(n, step):
        rows = X[start:stop]
        if hasattr(rows, "toarray"):
            rows = rows.toarray()
        if rows.dtype != np.float64 or not rows.flags.c_contiguous:
            rows = _converted(scratch, "X", rows, min(step, n))
        labels = None if y is None else y[start:stop]
        if (
            labels is not None
            and labels.dtype.kind == "f"
            and labels.dtype != np.float64
        ):
            labels = _converted(scratch, "y", labels, min(step, n))
        model.adjoint(rows, theta, loss, labels, n_nodes=n_nodes, out=out[start:stop])
    return out


def _converted(scratch, name, piece, rows):
    """``piece`` as C-ordered float64, written into ``scratch[name]`` (made
    anew, of ``rows`` rows, when it is missing or too small)."""
    buffer = scratch.get(name)
    if (
        buffer is None
        or buffer.shape[1:] != piece.shape[1:]
        or buffer.shape[0] < len(piece)
    ):
        buffer = scratch[name] = np.empty((rows, *piece.shape[1:]))
    buffer = buffer[: len(piece)]
    np.copyto(buffer, piece)
    return buffer


def _dual_output(out, n, width):
    """``out``, or a new array of ``n`` rows of ``width`` dual-matrix columns."""
    return np.empty((n, width)) if out is None else out


def _root_at_zero(model, loss, y, n_rows):
    """``h(z(0), y)``: the loss root at the model's output for ``theta = 0``."""
    z0 = np.full((n_rows, model.n_outputs), model.output_at_zero)
    return loss.root(_squeeze(z0), y)


class LinearIndex:
    """Raw output ``z = X w + b`` (``K`` columns of weights for ``K`` logits).

    With the squared error of an activation ``phi`` this is the single-index
    model ``phi(<w, x> + b)``; with a log loss, (multinomial) logistic
    regression.
    """

    block_bytes = 2**19
    output_at_zero = 0.0

    def __init__(self, n_features, *, n_outputs=1, fit_intercept=True):
        self.n_features, self.n_outputs = n_features, n_outputs
        self.fit_intercept = fit_intercept
        self.n_params = n_outputs * (n_features + int(fit_intercept))
        self.row_width = n_features + n_outputs
        self.piece_width = n_outputs
        # Per row, the structured Jacobian products hold K**2 + d + 1 values.
        self.jacobian_width = n_outputs**2 + n_features + 1

    def initial_theta(self, rng, loss, X, y, sample_weight):
        """A small random start (scale 0.01): zero is stationary for ReLU."""
        return rng.normal(scale=0.01, size=self.n_params)

    def unpack(self, theta):
        """``(W, b)``: ``W`` of shape (d, K) and ``b`` of shape (K,).

        ``W`` is a contiguous copy: a strided view halves the speed of
        ``X @ W`` for several logits.
        """
        d, K = self.n_features, self.n_outputs
        coefs = theta.reshape(K, d + int(self.fit_intercept))
        b = coefs[:, d] if self.fit_intercept else np.zeros(K)
        return np.ascontiguousarray(coefs[:, :d].T), b

    def forward(self, X, params):
        W, b = params
        if self.n_outputs == 1:
            z = X @ W[:, 0]
            if b[0]:
                z += b[0]
            return z, None
        Z = X @ W
        Z += b
        return Z, None

    def vjp(self, X, params, cache, G, out):
        d = self.n_features
        grad = out.reshape(self.n_outputs, d + int(self.fit_intercept))
        G = _as_columns(G)
        grad[:, :d] += G.T @ X
        if self.fit_intercept:
            grad[:, d] += _column_sums(G)

    def jacobian(self, X, theta):
        """``dz_i/dtheta``: shape (n, p) for one output, else (n, K, p)."""
        X1 = _augment(X, self.fit_intercept)
        if self.n_outputs == 1:
            return X1
        K = self.n_outputs
        J = np.zeros((X.shape[0], K, K, X1.shape[1]))
        for k in range(K):
            J[:, k, k] = X1
        return J.reshape(X.shape[0], K, -1)

    def jacobian_gram(self, X, theta, W):
        """``sum_i J_i^T W_i J_i`` for weights ``W`` of shape (n, K, K).

        ``J_i = I_K (x) [x_i; 1]``, so block ``(k, l)`` is
        ``X1^T diag(W_kl) X1``: ``K**2`` products of the data's width
        instead of one of the Jacobian's ``K`` times larger width.
        """
        X1 = _augment(X, self.fit_intercept)
        n, width = X1.shape
        G = np.empty((self.n_params, self.n_params))
        for k in range(self.n_outputs):
            for j in range(k + 1):
                block = (W[:, k, j][:, None] * X1).T @ X1
                G[k * width : (k + 1) * width, j * width : (j + 1) * width] = block
                G[j * width : (j + 1) * width, k * width : (k + 1) * width] = block.T
        return G

    def jacobian_quadratic(self, X, theta, M):
        """``J_i M J_i^T`` for every row, shape (n, K, K)."""
        X1 = _augment(X, self.fit_intercept)
        n, width = X1.shape
        out = np.empty((n, self.n_outputs, self.n_outputs))
        # One product per logit k for the entries (k, j <= k), mirrored.
        for k in range(self.n_outputs):
            block = M[k * width : (k + 1) * width, : (k + 1) * width]
            T = (X1 @ block).reshape(n, k + 1, width)
            out[:, k, : k + 1] = np.einsum("ijw,iw->ij", T, X1)
            out[:, : k + 1, k] = out[:, k, : k + 1]
        return out

    def adjoint(self, X, theta, loss, y, n_nodes=RAY_NODES, out=None):
        """Loss dual matrix: ``[S_i (x) [x_i; 1] ; h_i(0)]`` per row.

        ``z(t theta) = t z``, so the adjoint factor is
        ``S_i = int_0^1 dh/dz(t z_i) dt``: the closed-form secant
        ``(h(z) - h(0)) / z`` for one output, Gauss-Legendre for ``K``.
        """
        z, _ = self.forward(X, self.unpack(theta))
        h0 = _root_at_zero(self, loss, y, X.shape[0])
        if loss.root_secant is not None and self.n_outputs == 1:
            S = loss.root_secant(z, y)[:, None]
        else:
            Z = _as_columns(z)
            nodes, weights = ray_nodes(n_nodes)
            S = sum(
                w * _as_columns(loss.root_gradient(t * z, y))
                for t, w in zip(nodes, weights)
            )
            target = loss.root(z, y) - h0
            S = _conserve(S, Z, target)
        n, width = X.shape[0], self.n_features + int(self.fit_intercept)
        # Filled in place: one pass over X (this runs on every scoring pass).
        out = _dual_output(out, n, self.n_params + 1)
        rows = out[:, :-1].reshape(n, self.n_outputs, width, copy=False)
        np.multiply(S[:, :, None], X[:, None, :], out=rows[:, :, : self.n_features])
        if self.fit_intercept:
            rows[:, :, -1] = S
        out[:, -1] = h0
        return out


# Up to this many features, two-layer rows are built one feature at a time
# (1.5 against 2.5 ns per entry at d = 7, m = 20 or 100); broadcasting over
# longer rows is faster (1.5 against 3.2 ns at d = 50, m = 100).
_FEW_FEATURES = 16


class UnitFactors(NamedTuple):
    """Rows of a two-layer network's Jacobian or dual matrix, unassembled.

    Row ``i`` is, for every hidden unit ``j``, ``P[i, j]`` (the output
    weights' ``K`` entries) then ``Q[i, j] * [X[i]; 1]`` (the unit's input
    weights and bias), and after all units ``tail[i]``. The unit part is a
    row-wise Kronecker product, which sketches use without forming it
    (:mod:`sknlis._embedding`).
    """

    P: np.ndarray  # (n, m, K)
    Q: np.ndarray  # (n, m)
    X: np.ndarray  # (n, d)
    tail: np.ndarray  # (n, t)


class TwoLayerReLU:
    """``z_k = sum_j phi(a_kj relu(<b_j, [x; 1]>)) + c_k``, ``m`` hidden units.

    ``phi`` (per unit) is the identity for the usual network and for every
    classifier; other activations are for the paper's regression model and
    take one output.
    """

    # The two-layer pass has more temporaries per row: smaller blocks keep
    # them in cache between the forward and the backward product.
    block_bytes = 2**18

    def __init__(
        self,
        n_features,
        n_hidden,
        *,
        activation="identity",
        n_outputs=1,
        fit_intercept=True,
    ):
        # int(): a bool passes scikit-learn's Integral constraint.
        self.n_features, self.n_hidden = n_features, int(n_hidden)
        self.n_outputs = n_outputs
        self.activation = (
            make_activation(activation) if isinstance(activation, str) else activation
        )
        if n_outputs > 1 and self.activation.name != "identity":
            raise ValueError("Several outputs need the identity unit activation.")
        self.fit_intercept = fit_intercept
        self._width = n_outputs + n_features + 1
        self.n_params = n_hidden * self._width + n_outputs * int(fit_intercept)
        # Every unit's term is phi(0) at theta = 0.
        self.output_at_zero = n_hidden * self.activation.at_zero
        self.row_width = 2 * n_hidden + n_features + n_outputs
        # The widest per-row temporaries: a unit's output weights per row.
        self.piece_width = n_hidden * n_outputs
        self.jacobian_width = n_outputs * self.n_params

    def redundant_columns(self, theta):
        """Columns of the Jacobian and the dual matrix that the others span.

        A unit's output is positively homogeneous in its input weights
        ``b_j``, so ``<Q_j [x; 1], b_j> = sum_k a_kj P_jk`` on every row: for
        each unit with an output weight ``a_kj != 0``, the entry of the
        largest one is a combination of the unit's other columns. Dropping
        them leaves the column space, and so the leverage scores, unchanged,
        and removes the ``m`` directions that make the matrix rank-deficient.
        """
        A = self.unpack(theta)[0]
        units = np.flatnonzero(np.any(A != 0, axis=0))
        return units * self._width + np.argmax(np.abs(A[:, units]), axis=0)

    def initial_theta(self, rng, loss, X, y, sample_weight):
        """Glorot-uniform output weights, hidden weights at half that scale.

        Of the starts measured (He, Glorot, orthogonal, at several scales),
        this one reached the lowest median training MSE after a fixed number
        of L-BFGS-B iterations. The output bias then takes the loss's best
        constant shift of that start's outputs.
        """
        d, m, K = self.n_features, self.n_hidden, self.n_outputs
        try:
            theta = np.zeros(self.n_params)
        except MemoryError:
            raise ValueError(
                f"n_hidden={m} gives {self.n_params} parameters, too many to hold "
                "in memory; use fewer hidden units."
            ) from None
        neurons = theta[: m * self._width].reshape(m, self._width)
        limit = np.sqrt(6.0 / (m + 1))
        neurons[:, :K] = rng.uniform(-limit, limit, size=(m, K))
        limit = 0.5 * np.sqrt(6.0 / (d + m))
        neurons[:, K:] = rng.uniform(-limit, limit, size=(m, d + 1))
        if self.fit_intercept:
            z = raw_output(self, X, theta)
            theta[m * self._width :] = loss.constant_fit(z, y, sample_weight)
        return theta

    def unpack(self, theta):
        """``(A, W, bias, c)``: ``A`` (K, m), ``W`` (m, d), ``bias`` (m, 1), ``c`` (K,).

        Contiguous copies, so the BLAS calls need no hidden copies.
        """
        K, m = self.n_outputs, self.n_hidden
        neurons = theta[: m * self._width].reshape(m, self._width)
        c = theta[m * self._width :] if self.fit_intercept else np.zeros(K)
        return (
            np.ascontiguousarray(neurons[:, :K].T),
            np.ascontiguousarray(neurons[:, K:-1]),
            neurons[:, -1:].copy(),
            np.array(c, dtype=float),
        )

    def _hidden(self, X, W, bias):
        # Hidden units along the rows and samples along the fast axis: the
        # elementwise work runs over long contiguous rows.
        U = W @ X.T
        U += bias
        active = U > 0
        return np.maximum(U, 0.0, out=U), active

    def forward(self, X, params):
        A, W, bias, c = params
        H, active = self._hidden(X, W, bias)
        phi = self.activation
        if phi.name == "identity":
            Zt = A @ H
            V = None
        else:
            V = H * A[0][:, None]
            Zt = phi(V).sum(axis=0)[None, :]
        Zt += c[:, None]
        return _squeeze(Zt.T.copy()), (H, active, V)

    def vjp(self, X, params, cache, G, out):
        A, W, bias, c = params
        H, active, V = cache
        K, m, width = self.n_outputs, self.n_hidden, self._width
        Gt = _as_columns(G).T
        neurons = out[: m * width].reshape(m, width)
        if V is None and K > 1:
            neurons[:, :K] += (Gt @ H.T).T
            dH = A.T @ Gt
            dH *= active
            scale = None
        elif V is None:
            neurons[:, 0] += H @ Gt[0]
            # d/dU is a_j * G on the active units; the factor a_j goes on the
            # small products below rather than on every entry.
            dH = np.multiply(active, Gt)
            scale = A.T
        else:
            dH = self.activation.derivative(V)
            dH *= Gt  # d/dV of the loss
            neurons[:, 0] += np.einsum("ji,ji->j", dH, H)
            dH *= active
            scale = A.T
        grad_W, grad_bias = dH @ X, dH.sum(axis=1)
        if scale is not None:
            grad_W *= scale
            grad_bias *= scale[:, 0]
        neurons[:, K:-1] += grad_W
        neurons[:, -1] += grad_bias
        if self.fit_intercept:
            out[m * width :] += _column_sums(Gt.T)

    def jacobian_gram(self, X, theta, W):
        """``sum_i J_i^T W_i J_i`` for weights ``W`` of shape (n, K, K)."""
        return _dense_gram(self, X, theta, W)

    def jacobian_quadratic(self, X, theta, M):
        """``J_i M J_i^T`` for every row, shape (n, K, K)."""
        return _dense_quadratic(self, X, theta, M)

    def _blocks(self, factors, out=None):
        """Rows ``[P_j ; Q_j [x; 1]]`` per unit ``j``, then ``tail``.

        The Jacobian and the adjoint share this layout (:class:`UnitFactors`).
        """
        P, Q, X, tail = factors
        n, d, K, m = X.shape[0], self.n_features, self.n_outputs, self.n_hidden
        out = _dual_output(out, n, m * self._width + tail.shape[1])
        blocks = out[:, : m * self._width].reshape(n, m, self._width)
        blocks[:, :, :K] = P
        unit_inputs = blocks[:, :, K : K + d]
        if d <= _FEW_FEATURES:
            # A short inner axis makes broadcasting slow: one strided
            # product per feature runs over the long unit axis instead.
            for feature in range(d):
                np.multiply(Q, X[:, feature, None], out=unit_inputs[:, :, feature])
        else:
            np.multiply(Q[:, :, None], X[:, None, :], out=unit_inputs)
        blocks[:, :, -1] = Q
        out[:, m * self._width :] = tail
        return out

    def jacobian(self, X, theta):
        """``dz_i/dtheta``: shape (n, p) for one output, else (n, K, p)."""
        A, W, bias, c = self.unpack(theta)
        H, active = self._hidden(X, W, bias)
        H, active = H.T, active.T
        if self.activation.name == "identity":
            dphi = np.ones_like(H)
        else:
            dphi = self.activation.derivative(H * A[0])
        rows = []
        for k in range(self.n_outputs):
            P = np.zeros((X.shape[0], self.n_hidden, self.n_outputs))
            P[:, :, k] = dphi * H
            tail = np.zeros((X.shape[0], self.n_outputs * self.fit_intercept))
            if self.fit_intercept:
                tail[:, k] = 1.0
            rows.append(self._blocks(UnitFactors(P, dphi * A[k] * active, X, tail)))
        return rows[0] if self.n_outputs == 1 else np.stack(rows, axis=1)

    def adjoint(self, X, theta, loss, y, n_nodes=RAY_NODES, out=None):
        """Loss dual matrix rows (MATH.md sections 3, 7): :meth:`adjoint_factors`."""
        return self._blocks(self.adjoint_factors(X, theta, loss, y, n_nodes), out)

    def adjoint_factors(self, X, theta, loss, y, n_nodes=RAY_NODES):
        """The dual matrix rows as :class:`UnitFactors` (columns of :meth:`adjoint`).

        Each unit term is homogeneous of degree 2 in ``(a_j, b_j)`` and the
        output bias of degree 1. With the squared error of the output (the
        regression network) unit ``j`` contributes ``D(v_j) / 2`` times its
        gradient, ``v_j = a_j relu(u_j)``. For any other loss (identity
        units) ``z(t theta) = t**2 z_h + t c``: the unit blocks scale by
        ``S1 = int t h'(t**2 z_h + t c) dt`` and the bias by
        ``S0 = int h'(...) dt``, one Gauss-Legendre rule per row and logit.
        The tail is the output bias's entries (if any), then ``h(z(0), y)``.
        """
        A, W, bias, c = self.unpack(theta)
        H, active = self._hidden(X, W, bias)
        H, active = H.T, active.T
        h0 = _root_at_zero(self, loss, y, X.shape[0])
        n, K = X.shape[0], self.n_outputs
        if loss.is_residual:
            V = H * A[0]
            half_D = self.activation.divided_difference(V) / 2.0
            P = (half_D * H)[:, :, None]
            Q = half_D * A[0] * active
            S0 = np.ones((n, K))
        else:
            if self.activation.name != "identity":
                raise ValueError(
                    "The loss dual matrix of a two-layer network with non-identity "
                    "unit activations is defined for the squared error only."
                )
            Zh = H @ A.T  # (n, K): the degree-2 part of the logits
            nodes, weights = ray_nodes(n_nodes)
            S1 = np.zeros_like(Zh)
            S0 = np.zeros_like(Zh)
            for t, w in zip(nodes, weights):
                g = _as_columns(loss.root_gradient(_squeeze(t * t * Zh + t * c), y))
                S1 += (w * t) * g
                S0 += w * g
            if self.fit_intercept:
                directions = np.hstack([2.0 * Zh, np.broadcast_to(c, Zh.shape)])
                factors = np.hstack([S1, S0])
            else:
                directions, factors = 2.0 * Zh, S1
            target = loss.root(_squeeze(Zh + c), y) - h0
            factors = _conserve(factors, directions, target)
            S1, S0 = factors[:, :K], factors[:, K:]
            P = S1[:, None, :] * H[:, :, None]
            Q = (S1 @ A) * active
        tail = np.empty((n, K * self.fit_intercept + 1))
        tail[:, :-1] = S0 if self.fit_intercept else S0[:, :0]
        tail[:, -1] = h0
        return UnitFactors(P, Q, X, tail)


class MultiLayerPerceptron:
    """scikit-learn's multi-layer perceptron, up to its output activation.

    ``a_0 = x``, ``a_l = act(a_{l-1} W_l + b_l)`` for the hidden layers and
    ``z = a_{L-1} W_L + b_L`` (the output activation belongs to the loss).
    ``theta`` is laid out as scikit-learn packs an MLP: every ``W_l``
    (row-major), then every ``b_l``.

    No term is positively homogeneous once hidden biases sit between
    layers, so the adjoint is Gauss-Legendre quadrature of
    ``J(t theta)^T h'(z(t theta))``, the Jacobian evaluated *at* ``t theta``.
    """

    def __init__(self, layer_sizes, activation="relu"):
        self.layer_sizes = tuple(int(size) for size in layer_sizes)
        self.n_features, self.n_outputs = self.layer_sizes[0], self.layer_sizes[-1]
        self.activation = make_activation(activation)
        self._shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        sizes = [fan_in * fan_out for fan_in, fan_out in self._shapes]
        sizes += [fan_out for _, fan_out in self._shapes]
        self._offsets = np.cumsum([0, *sizes])
        self.n_params = int(self._offsets[-1])
        # theta = 0 zeroes every weight and bias, so the output is 0.
        self.output_at_zero = 0.0
        self.row_width = 2 * sum(self.layer_sizes)
        self.piece_width = max(self.layer_sizes[1:])
        self.jacobian_width = self.n_outputs * self.n_params

    def _slice(self, block):
        return slice(self._offsets[block], self._offsets[block + 1])

    def unpack(self, theta):
        """``(coefs, intercepts)``: lists of ``W_l`` (fan_in, fan_out) and ``b_l``."""
        n_layers = len(self._shapes)
        coefs = [
            theta[self._slice(layer)].reshape(shape)
            for layer, shape in enumerate(self._shapes)
        ]
        intercepts = [theta[self._slice(n_layers + layer)] for layer in range(n_layers)]
        return coefs, intercepts

    def forward(self, X, params):
        coefs, intercepts = params
        activations, pre = [X], []
        for W, b in zip(coefs[:-1], intercepts[:-1]):
            U = activations[-1] @ W
            U += b
            pre.append(U)
            activations.append(self.activation(U))
        Z = activations[-1] @ coefs[-1]
        Z += intercepts[-1]
        return _squeeze(Z), (activations, pre)

    def _deltas(self, params, cache, G):
        """``d(sum_i G_i . z_i) / d(pre-activation)`` of every layer, per row."""
        coefs, _ = params
        _, pre = cache
        deltas = [_as_columns(G)]
        for layer in range(len(coefs) - 1, 0, -1):
            delta = deltas[-1] @ coefs[layer].T
            delta *= self.activation.derivative(pre[layer - 1])
            deltas.append(delta)
        return deltas[::-1]

    def vjp(self, X, params, cache, G, out):
        activations, _ = cache
        n_layers = len(self._shapes)
        for layer, delta in enumerate(self._deltas(params, cache, G)):
            out[self._slice(layer)] += (activations[layer].T @ delta).ravel()
            out[self._slice(n_layers + layer)] += delta.sum(axis=0)

    def _rows(self, passes, weights, out):
        """``sum_k w_k J_k^T g_k`` row by row into ``out[:, :n_params]``.

        From each pass's activations and deltas, one batched product per
        layer over the passes: each entry is written once, in place (the
        rows are as wide as the network has parameters, and writing them is
        most of the cost).
        """
        n, n_layers = out.shape[0], len(self._shapes)
        for layer, (fan_in, fan_out) in enumerate(self._shapes):
            A = np.stack([activations[layer] for activations, _ in passes], axis=2)
            D = np.stack(
                [w * deltas[layer] for (_, deltas), w in zip(passes, weights)], axis=1
            )
            block = out[:, self._slice(layer)].reshape(n, fan_in, fan_out, copy=False)
            if len(passes) == 1:
                # Measured: einsum writes one outer product per row 2-4x
                # faster than matmul or a broadcast multiply.
                np.einsum("ni,nj->nij", A[:, :, 0], D[:, 0, :], out=block)
            else:
                np.matmul(A, D, out=block)
            out[:, self._slice(n_layers + layer)] = D.sum(axis=1)
        return out

    def jacobian(self, X, theta):
        """``dz_i/dtheta``: shape (n, p) for one output, else (n, K, p)."""
        params = self.unpack(theta)
        _, cache = self.forward(X, params)
        rows = []
        for k in range(self.n_outputs):
            G = np.zeros((X.shape[0], self.n_outputs))
            G[:, k] = 1.0
            pass_ = (cache[0], self._deltas(params, cache, G))
            rows.append(self._rows([pass_], [1.0], np.empty((len(X), self.n_params))))
        return rows[0] if self.n_outputs == 1 else np.stack(rows, axis=1)

    def jacobian_gram(self, X, theta, W):
        """``sum_i J_i^T W_i J_i`` for weights ``W`` of shape (n, K, K)."""
        return _dense_gram(self, X, theta, W)

    def jacobian_quadratic(self, X, theta, M):
        """``J_i M J_i^T`` for every row, shape (n, K, K)."""
        return _dense_quadratic(self, X, theta, M)

    def exact_nodes(self, loss):
        """Nodes that make the quadrature exact, or None.

        With the squared error of the output (``h' = 1``) the integrand is
        the Jacobian at ``t theta``. Identity units make it a polynomial of
        degree ``L`` (the number of hidden layers) in ``t``, which
        ``(L + 2) // 2`` Gauss-Legendre nodes integrate exactly; so does one
        layer of ReLU units, whose pattern does not change along the ray
        (``relu(t u) = t relu(u)``). Deeper ReLU layers mix degrees (a
        hidden bias against the units below), and their pattern can change.
        """
        n_hidden_layers = len(self._shapes) - 1
        if not loss.is_residual:
            return None
        if self.activation.name == "identity":
            return (n_hidden_layers + 2) // 2
        if self.activation.name == "relu" and n_hidden_layers <= 1:
            return 1
        return None

    def adjoint(self, X, theta, loss, y, n_nodes=RAY_NODES, out=None):
        """Loss dual matrix rows by Gauss-Legendre quadrature along the ray.

        ``n_nodes`` nodes, or fewer when they are exact (:meth:`exact_nodes`).
        No correction is applied: ``rows @ [theta; 1] - h(theta)`` is the
        quadrature error, for the caller to read.
        """
        nodes, weights = ray_nodes(self.exact_nodes(loss) or n_nodes)
        passes = []
        for t in nodes:
            params = self.unpack(t * theta)
            z, cache = self.forward(X, params)
            G = loss.root_gradient(z, y)
            passes.append((cache[0], self._deltas(params, cache, G)))
        out = _dual_output(out, X.shape[0], self.n_params + 1)
        out[:, -1] = _root_at_zero(self, loss, y, X.shape[0])
        return self._rows(passes, weights, out)
