"""Real data that ships with scikit-learn: the 8x8 handwritten digits (no download).

1797 images of the digits 0-9 (UCI ML hand-written digits, 16 grey levels),
split into a stratified train and test set with a fixed seed.
"""
import numpy as np

__all__ = ["load_digits_split"]


def load_digits_split(test_size=0.2, *, seed=0, images=False, dtype=np.float64):
    """``(X_train, y_train, X_test, y_test)``, pixels scaled to [0, 1].

    ``images=False`` gives rows of 64 features standardised with the training
    mean and std (for the MLP); ``images=True`` gives ``(N, 1, 8, 8)`` arrays
    (for the CNN), centred with the training mean pixel value.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size}")
    d = load_digits()
    X = d.data.astype(np.float64) / 16.0
    # stratified split: the same share of every digit goes to the test set
    rng = np.random.default_rng(seed)
    test = np.zeros(len(X), dtype=bool)
    for c in np.unique(d.target):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        test[idx[: int(round(test_size * len(idx)))]] = True
    Xtr, Xte, ytr, yte = X[~test], X[test], d.target[~test], d.target[test]
    if images:
        mu = Xtr.mean()
        Xtr = (Xtr - mu).reshape(-1, 1, 8, 8)
        Xte = (Xte - mu).reshape(-1, 1, 8, 8)
    else:
        mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-6
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    return (np.ascontiguousarray(Xtr, dtype=dtype), ytr.astype(np.int64),
            np.ascontiguousarray(Xte, dtype=dtype), yte.astype(np.int64))
