"""Tabular hyperparameter optimisation (METHODS §4.5) as Gymnasium environments, under two protocols.

``HPOEnv(dataset, model, protocol="llambo", metric=None)``: one of 5 scikit-learn datasets (digits, wine, diabetes,
iris, breast_cancer; shipped with scikit-learn, no download) × 5 models (``rf`` random forest, ``svm``, ``dt``
decision tree, ``mlp_sgd`` MLP trained by SGD, ``ada`` AdaBoost) = 25 tasks, the tasks LLAMBO takes from Bayesmark.
Both protocols follow the official code (github.com/tennisonliu/LLAMBO ``exp_bayesmark/run_bayesmark.py`` and
``bayesmark/bbox_utils.py``; github.com/uber/bayesmark ``bayesmark/sklearn_funcs.py``):

- Data: raw features, no scaler in front of any model. Split: ``train_test_split(X, y, test_size=0.2,
  random_state=0)``, not stratified. Score: the mean over an unshuffled 5-fold CV of the training part
  (scikit-learn's default splitter for ``cross_val_score(..., cv=5)``: ``StratifiedKFold`` for classifiers,
  ``KFold`` for regressors); ``test_score``: the model refit on the whole training part, scored on the test part.
- Spaces (``SPACES[protocol][model]``): Bayesmark's, with ``max_features`` and the three ``min_*`` fractions
  (``min_samples_leaf``, ``min_samples_split``, ``min_weight_fraction_leaf``) on a logit scale.
- Fixed model settings: random forest ``n_estimators=10``; SVC ``kernel="rbf", probability=True``; MLP
  ``solver="sgd", learning_rate="invscaling", nesterovs_momentum=True, early_stopping=True`` (``activation="tanh"``
  for regression); ``random_state=0`` wherever a model takes one (SVR does not).

``protocol="llambo"`` (the default), as LLAMBO runs it: diabetes' target standardised with the training part's
mean and std (the same transform applied to the test part); the MLP with ``max_iter=40`` and the 6-parameter
space; metric ``acc`` (accuracy) for classification, ``mse`` (mean squared error of the standardised target) for
regression. Initial points: LLAMBO's own per-seed initial configurations (``bayesmark/configs/<model>/<seed>.json``
in its repository, the first ``n_initial`` of each list; shipped for run seeds 0-9 and ``n_initial <= 5``, see
``envs/data/llambo_initial_configs.json``); any other seed, or more initial points, gets a scrambled-Sobol design fixed by the seed.
With scikit-learn 1.9 these reproduce LLAMBO's shipped CV scores of its initial configurations exactly for the
decision tree, random forest, SVM and MLP (``tests/test_hpo_protocols.py``); AdaBoost's classifier differs, since
scikit-learn removed its former default algorithm (SAMME.R) in 1.6.

``protocol="bayesmark"``, as Bayesmark runs it: raw target; the MLP with Bayesmark's two extra parameters ``tol``
(log [1e-5, 1e-1]) and ``validation_fraction`` (logit [0.1, 0.9]) and the default ``max_iter=200``; metric ``acc``
(default) or ``nll`` (log loss) for classification, ``mse`` (default) or ``mae`` for regression. Initial points: a
scrambled-Sobol design fixed by the seed (Bayesmark leaves the initial design to each optimiser). One deliberate
difference: Bayesmark leaves its models unseeded (a noisy objective); here they take ``random_state=0``, so that
an evaluation is a deterministic function of (task, protocol, metric, configuration) and can be cached.

Action: a configuration, a float vector ``[d]`` in natural units in ``space.names`` order; integer parameters are
rounded to the nearest integer (``info["config"]`` shows what was evaluated); a value outside its range raises
``ValueError`` naming the parameter (agents validate before stepping). Reward: the CV score, higher is better —
accuracy itself, a loss negated (``-mse``, ``-mae``, ``-log loss``). ``info``: ``score`` (= reward), ``loss``
(Bayesmark's convention: the CV loss, accuracy negated, so ``loss = -score``), ``test_score`` (same sign
convention as ``score``), ``config`` (a dict), ``expected_reward`` (= reward) and ``optimal_expected_reward``
(= reward too: the optimum of a task is unknown, so regret is not defined here; reports use the best score found,
METHODS §4.5). A fit whose score is not finite scores ``-1e9``.

Evaluations are cached by (task, protocol, metric, folds, configuration) in memory and in SQLite under
``$EXPOBENCH_CACHE/hpo`` (shared by processes, WAL; the key carries a definition version, so values computed under
an earlier definition are never reused): repeating a configuration costs nothing (``cache_hits`` /
``cache_misses`` count them). Whether a step was a cache hit is deliberately not in ``info``, which must not depend
on the cache's state. :meth:`reset` stores the seed's initial configurations (:meth:`initial_points`) in
``warm_start``, shared by every agent of one run seed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import warnings
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from expobench.envs.blackbox import sobol_points
from expobench.envs.search_space import Param, SearchSpace

DATASETS = ("digits", "wine", "diabetes", "iris", "breast_cancer")
MODELS = ("rf", "svm", "dt", "mlp_sgd", "ada")
PROTOCOLS = ("llambo", "bayesmark")
#: Allowed metrics per protocol and problem type; the first is the default.
METRICS: dict[str, dict[str, tuple[str, ...]]] = {
    "llambo": {"classification": ("acc",), "regression": ("mse",)},
    "bayesmark": {"classification": ("acc", "nll"), "regression": ("mse", "mae")},
}
#: scikit-learn scorer of each metric (a score: higher is better; losses come negated).
SCORERS = {"acc": "accuracy", "nll": "neg_log_loss", "mse": "neg_mean_squared_error",
           "mae": "neg_mean_absolute_error"}
#: Bumped whenever an evaluation's definition changes, so the cache never serves values of an older one.
_DEFINITION_VERSION = 2

_TREE = [Param("max_depth", 1, 15, integer=True), Param("max_features", 0.01, 0.99, "logit"),
         Param("min_impurity_decrease", 0.0, 0.5), Param("min_samples_leaf", 0.01, 0.49, "logit"),
         Param("min_samples_split", 0.01, 0.99, "logit"), Param("min_weight_fraction_leaf", 0.01, 0.49, "logit")]
_SVM = [Param("C", 1.0, 1e3, "log"), Param("gamma", 1e-4, 1e-3, "log"), Param("tol", 1e-5, 1e-1, "log")]
_ADA = [Param("n_estimators", 10, 100, integer=True), Param("learning_rate", 1e-4, 10.0, "log")]
_MLP_LLAMBO = [Param("hidden_layer_sizes", 50, 200, integer=True), Param("alpha", 1e-5, 10.0, "log"),
               Param("batch_size", 10, 250, integer=True), Param("learning_rate_init", 1e-5, 1e-1, "log"),
               Param("power_t", 0.1, 0.9, "logit"), Param("momentum", 0.001, 0.999, "logit")]
_MLP_BAYESMARK = [*_MLP_LLAMBO[:5], Param("tol", 1e-5, 1e-1, "log"), _MLP_LLAMBO[5],
                  Param("validation_fraction", 0.1, 0.9, "logit")]  # Bayesmark's order
#: ``SPACES[protocol][model]``: the parameters of each search space.
SPACES: dict[str, dict[str, list[Param]]] = {
    "llambo": {"rf": _TREE, "dt": _TREE, "svm": _SVM, "ada": _ADA, "mlp_sgd": _MLP_LLAMBO},
    "bayesmark": {"rf": _TREE, "dt": _TREE, "svm": _SVM, "ada": _ADA, "mlp_sgd": _MLP_BAYESMARK},
}
MODEL_NAMES = {"rf": "random forest", "svm": "support vector machine", "dt": "decision tree",
               "mlp_sgd": "multi-layer perceptron trained by SGD", "ada": "AdaBoost"}
_METRIC_TEXT = {"acc": "accuracy", "nll": "log loss (negative log-likelihood)", "mse": "mean squared error",
                "mae": "mean absolute error"}


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{field}: unknown {value!r}; allowed: {', '.join(allowed)}")


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(X [n, f], y [n], is_classification)`` as scikit-learn ships them (raw: no scaling, no split)."""
    from sklearn import datasets

    _check_choice("dataset", name, DATASETS)
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X.astype(np.float64), y, name != "diabetes"


def split_dataset(name: str, protocol: str = "llambo") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(X_train, X_test, y_train, y_test, is_classification)``: ``train_test_split(X, y, test_size=0.2,
    random_state=0)``, not stratified; under ``llambo`` a regression target is standardised with the training
    part's mean and (population) std, applied to both parts."""
    from sklearn.model_selection import train_test_split

    _check_choice("protocol", protocol, PROTOCOLS)
    X, y, clf = load_dataset(name)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    if protocol == "llambo" and not clf:
        mean, std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mean) / std, (y_te - mean) / std
    return X_tr, X_te, y_tr, y_te, clf


def build_model(model: str, config: dict[str, Any], classification: bool, protocol: str = "llambo") -> Any:
    """The scikit-learn estimator of ``model`` with hyperparameters ``config`` and the protocol's fixed settings."""
    from sklearn import ensemble, neural_network, svm, tree

    _check_choice("model", model, MODELS)
    _check_choice("protocol", protocol, PROTOCOLS)
    c = dict(config)
    for p in SPACES[protocol][model]:
        if p.integer:
            c[p.name] = int(c[p.name])
    if model == "rf":
        cls = ensemble.RandomForestClassifier if classification else ensemble.RandomForestRegressor
        return cls(n_estimators=10, max_leaf_nodes=None, random_state=0, **c)
    if model == "dt":
        cls = tree.DecisionTreeClassifier if classification else tree.DecisionTreeRegressor
        return cls(max_leaf_nodes=None, random_state=0, **c)
    if model == "svm":
        return svm.SVC(kernel="rbf", probability=True, random_state=0, **c) if classification \
            else svm.SVR(kernel="rbf", **c)
    if model == "ada":
        cls = ensemble.AdaBoostClassifier if classification else ensemble.AdaBoostRegressor
        return cls(random_state=0, **c)
    # mlp_sgd
    c["hidden_layer_sizes"] = (c.pop("hidden_layer_sizes"),)
    fixed: dict[str, Any] = {"solver": "sgd", "learning_rate": "invscaling", "nesterovs_momentum": True,
                             "early_stopping": True, "max_iter": 40 if protocol == "llambo" else 200,
                             "random_state": 0}
    if classification:
        return neural_network.MLPClassifier(**fixed, **c)
    return neural_network.MLPRegressor(activation="tanh", **fixed, **c)


class HPOEnv(gym.Env):
    """Tune a scikit-learn model's hyperparameters on a tabular dataset; reward the CV score (higher is better).

    Args:
        dataset: ``digits``, ``wine``, ``diabetes``, ``iris`` or ``breast_cancer``.
        model: ``rf``, ``svm``, ``dt``, ``mlp_sgd`` or ``ada``.
        protocol: ``llambo`` (default) or ``bayesmark`` (module docstring; METHODS §4.5).
        metric: ``None`` for the protocol's default (``acc`` / ``mse``); under ``bayesmark`` also ``nll``
            (classification) or ``mae`` (regression). The reward is the metric's score: accuracy, or the loss
            negated.
        n_initial: initial configurations per seed (``llambo``: LLAMBO's own for seeds 0-9 when ``<= 5``,
            else scrambled Sobol; ``bayesmark``: scrambled Sobol).
        cv_folds: cross-validation folds (both protocols: 5).

    ``info``: ``score`` (= reward), ``loss`` (= -score), ``test_score``, ``config`` (what was evaluated),
    ``expected_reward`` and ``optimal_expected_reward`` (both the score: the optimum is unknown).
    """

    metadata = {"render_modes": [], "expobench.metric": "neg_best_score"}  # headline metric (experiments.metrics)

    def __init__(self, dataset: str = "digits", model: str = "rf", n_initial: int = 5, cv_folds: int = 5, *,
                 protocol: str = "llambo", metric: str | None = None) -> None:
        _check_choice("model", model, MODELS)
        _check_choice("dataset", dataset, DATASETS)
        _check_choice("protocol", protocol, PROTOCOLS)
        if n_initial < 0 or cv_folds < 2:
            raise ValueError(f"need n_initial >= 0 and cv_folds >= 2; got {n_initial}, {cv_folds}")
        kind = "classification" if dataset != "diabetes" else "regression"
        allowed = METRICS[protocol][kind]
        if metric is None:
            metric = allowed[0]
        if metric not in allowed:
            raise ValueError(f"metric: unknown {metric!r} for {kind} under protocol {protocol!r}; allowed: "
                             f"{', '.join(allowed)}")
        self.dataset, self.model, self.n_initial, self.cv_folds = dataset, model, int(n_initial), int(cv_folds)
        self.protocol, self.metric = protocol, metric
        self.space = SearchSpace(SPACES[protocol][model])
        self.action_space = spaces.Box(self.space.low, self.space.high, dtype=np.float64)
        self.observation_space = spaces.Discrete(1)
        self.cache_hits = self.cache_misses = 0
        self._memo: dict[str, tuple[float, float]] = {}
        self.warm_start = self.initial_points(0)

    # -- data ------------------------------------------------------------------------------------------------
    @cached_property
    def _data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        return split_dataset(self.dataset, self.protocol)

    @property
    def is_classification(self) -> bool:
        return self.dataset != "diabetes"

    def cv_splitter(self) -> Any:
        """The CV splitter: unshuffled ``StratifiedKFold`` for classification, ``KFold`` for regression (what
        ``cross_val_score(..., cv=5)`` uses)."""
        from sklearn.model_selection import KFold, StratifiedKFold

        return (StratifiedKFold if self.is_classification else KFold)(n_splits=self.cv_folds)

    def estimator(self, config: dict[str, Any]) -> Any:
        """The unfitted estimator this env evaluates for ``config`` (a dict in natural units)."""
        return build_model(self.model, config, self.is_classification, self.protocol)

    @property
    def metric_description(self) -> str:
        """What the reward is, in words."""
        what = _METRIC_TEXT[self.metric]
        if self.metric == "mse" and self.protocol == "llambo":
            what += " of the target standardised with the training part's mean and std"
        return what if self.metric == "acc" else f"negative {what}"

    @property
    def loss_description(self) -> str:
        """The loss (``-reward``, Bayesmark's convention) in words."""
        what = self.metric_description
        return what.removeprefix("negative ") if what.startswith("negative ") else f"negative {what}"

    def describe_task(self) -> str:
        """Model, metric, data shape and the search space, for LLM prompts."""
        X, y, clf = load_dataset(self.dataset)
        target = f"{len(np.unique(y))} classes" if clf else "a continuous target (regression)"
        return (f"Model: {MODEL_NAMES[self.model]} (scikit-learn). Dataset: {self.dataset}, {X.shape[0]} samples, "
                f"{X.shape[1]} features, {target}. Metric: {self.cv_folds}-fold cross-validated "
                f"{self.metric_description} on the 80 % training split (higher is better). "
                f"Hyperparameters:\n{self.space.describe()}")

    # -- evaluation ------------------------------------------------------------------------------------------
    def _key(self, config: dict[str, Any]) -> str:
        rounded = {k: float(f"{v:.12g}") for k, v in config.items()}
        blob = json.dumps([_DEFINITION_VERSION, self.protocol, self.metric, self.dataset, self.model, self.cv_folds,
                           rounded], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    @cached_property
    def _db(self) -> sqlite3.Connection:
        from expobench.settings import cache_root

        path = cache_root() / "hpo" / "evals.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS evals (key TEXT PRIMARY KEY, cv REAL NOT NULL, test REAL NOT NULL)")
        db.commit()
        return db

    def evaluate(self, x: Any) -> tuple[float, float]:
        """``(cv_score, test_score)`` of a valid configuration, from the cache when it was evaluated before."""
        score, test, _ = self._evaluate(x)
        return score, test

    def _evaluate(self, x: Any) -> tuple[float, float, bool]:
        arr = self._as_config(x)
        err = self.space.check(arr)
        if err is not None:
            raise ValueError(f"action: {err}")
        config = self.space.to_dict(arr)
        key = self._key(config)
        if key in self._memo:
            self.cache_hits += 1
            return (*self._memo[key], True)
        row = self._db.execute("SELECT cv, test FROM evals WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.cache_hits += 1
            self._memo[key] = (float(row[0]), float(row[1]))
            return (*self._memo[key], True)
        self.cache_misses += 1
        result = self._fit(config)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO evals VALUES (?, ?, ?)", (key, *result))
        self._memo[key] = result
        return (*result, False)

    def _fit(self, config: dict[str, Any]) -> tuple[float, float]:
        from sklearn.base import clone
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import get_scorer
        from sklearn.model_selection import cross_val_score
        from threadpoolctl import threadpool_limits

        X_tr, X_te, y_tr, y_te, _ = self._data
        est = self.estimator(config)
        scorer = get_scorer(SCORERS[self.metric])
        # One BLAS thread: the MLP's matrices are tiny, so threading only costs (4-5x slower on 2 cores), and the
        # result does not depend on the machine's thread count.
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)  # short SGD budgets do not converge by design
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)  # as both originals: optimisers try odd settings
            # scikit-learn 1.9 deprecates SVC(probability=True), which both originals use (Bayesmark's nll needs it)
            warnings.filterwarnings("ignore", message="The `probability` parameter", category=FutureWarning)
            try:
                cv = float(np.mean(cross_val_score(est, X_tr, y_tr, cv=self.cv_splitter(), scoring=scorer)))
            except ValueError:  # every fold failed (e.g. a diverging SGD run)
                cv = float("nan")
            try:
                test = float(scorer(clone(est).fit(X_tr, y_tr), X_te, y_te))
            except ValueError:
                test = float("nan")
        return (cv if np.isfinite(cv) else -1e9), (test if np.isfinite(test) else -1e9)

    def _as_config(self, x: Any) -> np.ndarray:
        """The action as a configuration vector, integer parameters rounded to the nearest integer (a Box
        action is real-valued); ranges are not touched."""
        arr = np.asarray(x, dtype=np.float64).reshape(-1).copy()
        if arr.shape == (self.space.dim,):
            for i, p in enumerate(self.space.params):
                if p.integer and np.isfinite(arr[i]):
                    arr[i] = np.round(arr[i])
        return arr

    def initial_points(self, seed: int) -> np.ndarray:
        """``[n_initial, d]`` configurations fixed by ``seed``: under ``llambo``, LLAMBO's shipped initial
        configurations of that seed (seeds 0-9, ``n_initial <= 5``); otherwise scrambled Sobol through the
        space's scales."""
        if not self.n_initial:
            return np.zeros((0, self.space.dim))
        if self.protocol == "llambo":
            shipped = llambo_initial_configs(self.model, seed)
            if shipped is not None and self.n_initial <= len(shipped):
                return shipped[: self.n_initial].copy()
        return sobol_points(self.space, self.n_initial, seed)

    # -- gym API ---------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.warm_start = self.initial_points(0 if seed is None else seed)
        return 0, {}

    def step(self, action):
        config = self._as_config(action)
        score, test, _ = self._evaluate(config)  # whether it was cached is not in info: info must be deterministic
        info = {"score": score, "loss": -score, "test_score": test,
                "config": self.space.to_dict(config),
                "expected_reward": score, "optimal_expected_reward": score}
        return 0, score, False, False, info


HPO_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    f"expobench/HPO-{m}-{d}-v0": ("expobench.envs.hpo:HPOEnv", {"dataset": d, "model": m}) for m in MODELS for d in DATASETS
}


def llambo_initial_configs(model: str, seed: int) -> np.ndarray | None:
    """LLAMBO's first 5 initial configurations of run ``seed`` for ``model`` (``[5, d]``, the llambo space's
    order), or ``None`` for a seed it does not ship (it ships 0-9; the same list for every dataset, and the same
    for the random forest and the decision tree)."""
    _check_choice("model", model, MODELS)
    if not 0 <= seed < 10:
        return None
    rows = np.asarray(_llambo_initial()["tree" if model in ("rf", "dt") else model], dtype=np.float64)
    return rows[5 * seed: 5 * seed + 5]


@lru_cache(maxsize=1)
def _llambo_initial() -> dict[str, list[list[float]]]:
    """LLAMBO's shipped initial configurations (envs/data/llambo_initial_configs.json, MIT, see its source)."""
    return json.loads((Path(__file__).parent / "data" / "llambo_initial_configs.json").read_text())["configs"]


