"""Tabular hyperparameter optimisation (METHODS §4.5; LLAMBO's Bayesmark setting) as Gymnasium environments.

``HPOEnv(dataset, model)``: one of 5 scikit-learn datasets (digits, wine, diabetes, iris, breast_cancer; shipped
with scikit-learn, no download) × 5 models (``rf`` random forest, ``svm``, ``dt`` decision tree, ``mlp_sgd`` MLP
trained by SGD, ``ada`` AdaBoost) = 25 tasks, with LLAMBO's search spaces (``expobench.envs.search_space``).

A 20 % test split is held out first (stratified for classification, ``random_state=0``). Score = mean 5-fold
cross-validated score on the rest: accuracy for classification, negative MSE for diabetes (standardised target);
the model refit on the whole training part gives ``test_score``. Models and folds use fixed random states, so an
evaluation is a deterministic function of (task, configuration).

Action: a configuration, a float vector ``[d]`` in natural units in ``space.names`` order; integer parameters are
rounded to the nearest integer (``info["config"]`` shows what was evaluated); a value outside its range raises
``ValueError`` naming the parameter (agents validate before stepping). Reward: the
CV score (higher is better). ``info``: ``score``, ``test_score``, ``config`` (a dict),
``expected_reward`` (= reward) and ``optimal_expected_reward`` (= reward too: the optimum of a task is unknown, so
regret is not defined here; reports use the best score found, METHODS §4.5).

Evaluations are cached by (task, configuration) in memory and in SQLite under ``$EXPOBENCH_CACHE/hpo`` (shared by
processes, WAL): repeating a configuration costs nothing (``cache_hits`` / ``cache_misses`` count them). Whether a
step was a cache hit is deliberately not in ``info``, which must not depend on the cache's state. :meth:`reset`
stores the seed's ``n_initial`` scrambled-Sobol configurations (:meth:`initial_points`) in ``warm_start``, shared by
every agent of one run seed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import warnings
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from expobench.envs.blackbox import sobol_points
from expobench.envs.search_space import Param, SearchSpace

DATASETS = ("digits", "wine", "diabetes", "iris", "breast_cancer")
MODELS = ("rf", "svm", "dt", "mlp_sgd", "ada")

_TREE = [Param("max_depth", 1, 15, integer=True), Param("max_features", 0.01, 0.99, "logit"),
         Param("min_impurity_decrease", 0.0, 0.5), Param("min_samples_leaf", 0.01, 0.49),
         Param("min_samples_split", 0.01, 0.99), Param("min_weight_fraction_leaf", 0.01, 0.49)]
SPACES: dict[str, list[Param]] = {
    "rf": _TREE,
    "dt": _TREE,
    "svm": [Param("C", 1.0, 1e3, "log"), Param("gamma", 1e-4, 1e-3, "log"), Param("tol", 1e-5, 1e-1, "log")],
    "ada": [Param("n_estimators", 10, 100, integer=True), Param("learning_rate", 1e-4, 10.0, "log")],
    "mlp_sgd": [Param("hidden_layer_sizes", 50, 200, integer=True), Param("alpha", 1e-5, 10.0, "log"),
                Param("batch_size", 10, 250, integer=True), Param("learning_rate_init", 1e-5, 1e-1, "log"),
                Param("power_t", 0.1, 0.9, "logit"), Param("momentum", 0.001, 0.999, "logit")],
}
MODEL_NAMES = {"rf": "random forest", "svm": "support vector machine", "dt": "decision tree",
               "mlp_sgd": "multi-layer perceptron trained by SGD", "ada": "AdaBoost"}


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(X [n, f], y [n], is_classification)``; diabetes' target is standardised."""
    from sklearn import datasets

    if name not in DATASETS:
        raise ValueError(f"dataset: unknown {name!r}; allowed: {', '.join(DATASETS)}")
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if name == "diabetes":
        return X.astype(np.float64), (y - y.mean()) / y.std(), False
    return X.astype(np.float64), y, True


def build_model(model: str, config: dict[str, Any], classification: bool) -> Any:
    """The scikit-learn estimator of ``model`` with hyperparameters ``config`` (fixed random state)."""
    from sklearn import ensemble, neural_network, svm, tree
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = dict(config)
    if model in ("rf", "dt"):
        c["max_depth"] = int(c["max_depth"])
        if model == "rf":
            cls = ensemble.RandomForestClassifier if classification else ensemble.RandomForestRegressor
            return cls(n_estimators=10, random_state=0, **c)
        cls = tree.DecisionTreeClassifier if classification else tree.DecisionTreeRegressor
        return cls(random_state=0, **c)
    if model == "svm":
        return make_pipeline(StandardScaler(), svm.SVC(**c) if classification else svm.SVR(**c))
    if model == "ada":
        c["n_estimators"] = int(c["n_estimators"])
        cls = ensemble.AdaBoostClassifier if classification else ensemble.AdaBoostRegressor
        return cls(random_state=0, **c)
    if model == "mlp_sgd":
        c["hidden_layer_sizes"] = (int(c.pop("hidden_layer_sizes")),)
        c["batch_size"] = int(c["batch_size"])
        cls = neural_network.MLPClassifier if classification else neural_network.MLPRegressor
        return make_pipeline(StandardScaler(), cls(solver="sgd", learning_rate="invscaling", max_iter=20,
                                                   random_state=0, **c))
    raise ValueError(f"model: unknown {model!r}; allowed: {', '.join(MODELS)}")


class HPOEnv(gym.Env):
    """Tune a scikit-learn model's hyperparameters on a tabular dataset; reward the CV score.

    Args:
        dataset: ``digits``, ``wine``, ``diabetes``, ``iris`` or ``breast_cancer``.
        model: ``rf``, ``svm``, ``dt``, ``mlp_sgd`` or ``ada``. n_initial: warm-start configurations per seed.
        cv_folds: cross-validation folds.

    ``info``: ``score`` (CV score), ``test_score``, ``config`` (what was evaluated), ``expected_reward`` and
    ``optimal_expected_reward`` (both the score: the optimum is unknown).
    """

    metadata = {"render_modes": [], "expobench.metric": "neg_best_score"}  # headline metric (experiments.metrics)

    def __init__(self, dataset: str = "digits", model: str = "rf", n_initial: int = 5, cv_folds: int = 5) -> None:
        if model not in MODELS:
            raise ValueError(f"model: unknown {model!r}; allowed: {', '.join(MODELS)}")
        if dataset not in DATASETS:
            raise ValueError(f"dataset: unknown {dataset!r}; allowed: {', '.join(DATASETS)}")
        if n_initial < 0 or cv_folds < 2:
            raise ValueError(f"need n_initial >= 0 and cv_folds >= 2; got {n_initial}, {cv_folds}")
        self.dataset, self.model, self.n_initial, self.cv_folds = dataset, model, int(n_initial), int(cv_folds)
        self.space = SearchSpace(SPACES[model])
        self.action_space = spaces.Box(self.space.low, self.space.high, dtype=np.float64)
        self.observation_space = spaces.Discrete(1)
        self.cache_hits = self.cache_misses = 0
        self._memo: dict[str, tuple[float, float]] = {}
        self.warm_start = self.initial_points(0)

    # -- data ------------------------------------------------------------------------------------------------
    @cached_property
    def _data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        from sklearn.model_selection import train_test_split

        X, y, clf = load_dataset(self.dataset)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0,
                                                  stratify=y if clf else None)
        return X_tr, X_te, y_tr, y_te, clf

    @property
    def is_classification(self) -> bool:
        return self.dataset != "diabetes"

    def describe_task(self) -> str:
        """Model, metric, data shape and the search space, for LLM prompts."""
        X, y, clf = load_dataset(self.dataset)
        target = f"{len(np.unique(y))} classes" if clf else "a continuous target (regression)"
        metric = "accuracy" if clf else "negative mean squared error of the standardised target"
        return (f"Model: {MODEL_NAMES[self.model]} (scikit-learn). Dataset: {self.dataset}, {X.shape[0]} samples, "
                f"{X.shape[1]} features, {target}. Metric: {self.cv_folds}-fold cross-validated {metric} "
                f"(higher is better). Hyperparameters:\n{self.space.describe()}")

    # -- evaluation ------------------------------------------------------------------------------------------
    def _key(self, config: dict[str, Any]) -> str:
        rounded = {k: float(f"{v:.12g}") for k, v in config.items()}
        blob = json.dumps([self.dataset, self.model, self.cv_folds, rounded], sort_keys=True)
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
        from sklearn.metrics import accuracy_score, mean_squared_error
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
        from threadpoolctl import threadpool_limits

        X_tr, X_te, y_tr, y_te, clf = self._data
        est = build_model(self.model, config, clf)
        folds = (StratifiedKFold if clf else KFold)(self.cv_folds, shuffle=True, random_state=0)
        scoring = "accuracy" if clf else "neg_mean_squared_error"
        # One BLAS thread: the MLP's matrices are tiny, so threading only costs (4-5x slower on 2 cores), and the
        # result does not depend on the machine's thread count.
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)  # short SGD budgets do not converge by design
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
            cv = float(np.mean(cross_val_score(est, X_tr, y_tr, cv=folds, scoring=scoring)))
            fitted = clone(est).fit(X_tr, y_tr)
            pred = fitted.predict(X_te)
        test = float(accuracy_score(y_te, pred)) if clf else -float(mean_squared_error(y_te, pred))
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
        """``[n_initial, d]`` configurations fixed by ``seed`` (scrambled Sobol through the space's scales)."""
        return sobol_points(self.space, self.n_initial, seed) if self.n_initial else np.zeros((0, self.space.dim))

    # -- gym API ---------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.warm_start = self.initial_points(0 if seed is None else seed)
        return 0, {}

    def step(self, action):
        config = self._as_config(action)
        score, test, _ = self._evaluate(config)  # whether it was cached is not in info: info must be deterministic
        info = {"score": score, "test_score": test,
                "config": self.space.to_dict(config),
                "expected_reward": score, "optimal_expected_reward": score}
        return 0, score, False, False, info


HPO_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    f"expobench/HPO-{m}-{d}-v0": ("expobench.envs.hpo:HPOEnv", {"dataset": d, "model": m}) for m in MODELS for d in DATASETS
}
