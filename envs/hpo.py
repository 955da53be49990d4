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
:data:`_LLAMBO_INITIAL`); any other seed, or more initial points, gets a scrambled-Sobol design fixed by the seed.
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
from functools import cached_property
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
    table = _LLAMBO_INITIAL["tree" if model in ("rf", "dt") else model]
    rows = np.array([[float(v) for v in line.split()] for line in table.split("\n") if line.strip()])
    return rows[5 * seed: 5 * seed + 5]


# LLAMBO's initial configurations: bayesmark/configs/<Model>/<seed>.json of github.com/tennisonliu/LLAMBO (commit
# 196fe237), the first 5 entries of each seed's list, seeds 0-9 in order (5 lines per seed), one configuration a
# line in the llambo space's parameter order. "tree" serves RandomForest and DecisionTree (identical files).
# They are used here under LLAMBO's licence:
#
#   MIT License
#
#   Copyright (c) 2024 Tennison Liu
#
#   Permission is hereby granted, free of charge, to any person obtaining a copy
#   of this software and associated documentation files (the "Software"), to deal
#   in the Software without restriction, including without limitation the rights
#   to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
#   copies of the Software, and to permit persons to whom the Software is
#   furnished to do so, subject to the following conditions:
#
#   The above copyright notice and this permission notice shall be included in all
#   copies or substantial portions of the Software.
#
#   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
#   IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
#   FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
#   AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
#   LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
#   OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
#   SOFTWARE.
_LLAMBO_INITIAL: dict[str, str] = {
    "tree": """
        9 0.2674589099883767 0.30138168803582194 0.08336032899551385 0.07005843440570782 0.12350589807957478
        7 0.6020791473690715 0.48183138025051464 0.0444724803645634 0.38018445062536793 0.07833144174560139
        9 0.7033204209752383 0.03551802909894347 0.01403671883581709 0.01097358534178148 0.25544111374655565
        12 0.5447871594473757 0.489309171116382 0.22425114674628416 0.08335745696734191 0.20856784511275694
        3 0.18925567537030283 0.0716766437045232 0.39507149928225965 0.11000663421587892 0.05021806627463115
        7 0.2738450598230169 5.718740867244332e-05 0.032434060996912296 0.019627781772875195 0.014324198507350686
        4 0.04893427392638894 0.19838373711533497 0.08141528203294193 0.0686371633058269 0.1439313217188278
        4 0.5654602242121708 0.013693796598963082 0.13590065737339338 0.06804373593266175 0.08796205318633589
        3 0.02485068152771641 0.40037228433776834 0.43306383724353564 0.042216314909836516 0.1479656720861717
        13 0.6099700944801847 0.042522105684888956 0.011641534821384194 0.021823256762090595 0.3049530750495319
        7 0.011265210225126334 0.27483123893935457 0.05442271472521289 0.06900821287746466 0.03616851013722821
        4 0.17212301128529614 0.14982733683726157 0.028248176259675867 0.17360272472826838 0.0784068296218743
        3 0.10590453897230163 0.09221993282345764 0.21250560448987563 0.506084631750841 0.06844743297165844
        13 0.014419271426492837 0.252623045060852 0.012892792521465146 0.07151151593956216 0.014559825676910798
        3 0.15519793585483974 0.11300600030211794 0.015162093706799586 0.027520151502054023 0.0390188994403273
        9 0.258943323491781 0.14545236945647216 0.07301276842154016 0.6053358137165978 0.3272736691373837
        3 0.02591678831290768 0.02573360165041494 0.05559747519816745 0.011471547768812092 0.05917492621738135
        10 0.035954977598076754 0.33812745099006564 0.09969514694604906 0.011165009283219368 0.08801830254504485
        5 0.06735821318219486 0.14176254088565937 0.14843591449494614 0.07568066518356603 0.018413537756286652
        9 0.3607643433802273 0.15318176618808987 0.023722057013521133 0.05946331215098865 0.38253570233160994
        15 0.123616355684702 0.48634217998244217 0.16150247806327767 0.2468381021678784 0.023186415725322512
        15 0.010290425114510175 0.12649118119172198 0.054310392782503124 0.35922287866378627 0.021583731917407766
        13 0.9172949482616565 0.08192112070234936 0.10223779880806912 0.010421565748011563 0.04501748894332788
        2 0.8112044630651188 0.21807332343989883 0.4017517007540776 0.37083430190365313 0.29120496585491235
        3 0.014111397905356916 0.30037136068888465 0.019226752087066347 0.2907764789411799 0.04901739320886911
        4 0.5465929618975626 0.10335957766971321 0.3569706875025746 0.09433884564366041 0.10813519781786397
        12 0.10828621707356399 0.14840025078811098 0.02076278872833809 0.014492059805531381 0.17705528468959603
        7 0.020698017207220105 0.43996851560063943 0.02905760820094549 0.0670906474363481 0.031654331170913194
        10 0.14359679313770018 0.2999645983124938 0.028137559764443723 0.03699381861330863 0.026829574885999345
        6 0.01939542730982772 0.0828064306006338 0.42582543785160304 0.8246358814026002 0.02081889679652121
        14 0.045973819178870355 0.4106145615289159 0.011761845581438694 0.016399985324257398 0.10133387872766364
        8 0.06851518649399953 0.16770392463666461 0.11276644880895488 0.07488079561200485 0.17530126559538103
        8 0.14295211832685487 0.3226775479477969 0.4717079348705048 0.4326511598983069 0.04993333812168732
        13 0.44047708048187595 0.027237253911177317 0.16392222495077377 0.3988777454604787 0.17565949208932197
        11 0.12009159819193582 0.06241208719030489 0.4155389182331927 0.06378997944360033 0.023264300598152356
        2 0.36010851504499314 0.21920461572044675 0.16703135629760185 0.8947676832504627 0.08131367868473348
        8 0.013924761888808467 0.13421949005093559 0.06996799732069425 0.22672284649514332 0.22828457532958282
        6 0.013538947197918448 0.14407279965399677 0.34466042164002 0.026658721742471445 0.05810026964275088
        14 0.011212172604026724 0.30027445873206127 0.40355725297538114 0.02881379956437994 0.08453868954270277
        14 0.018439860566565817 0.2617062903368829 0.18549824378746976 0.21632482903621136 0.06174389887906856
        13 0.8567494496499405 0.43459727010696 0.07893147324514858 0.029136732184813784 0.01045360809278656
        7 0.06352527220674314 0.2613373356762848 0.06435405805859555 0.1283183967334306 0.08287602577256414
        12 0.26402179038832246 0.3098410480517198 0.05250233759320415 0.03774750921347456 0.4425948041288665
        6 0.027330469830181142 0.032904193893605715 0.4583992991460165 0.017995062548532878 0.0350319412560603
        2 0.028090456751144317 0.19681745747180246 0.32708511025449133 0.04891199210543069 0.4617635398603608
        1 0.10035952551476758 0.24788664656707304 0.016834419500004975 0.019213296448133188 0.023410302028895328
        7 0.03126939103340617 0.04202982558267504 0.038367230133342506 0.021519131861632186 0.3054478850910041
        14 0.011948891635894573 0.3495536956993805 0.09291298120602495 0.619576033697259 0.1340263004345618
        9 0.2522254404643402 0.1932385848073327 0.1491892501007534 0.44273160923203675 0.061245055376464866
        14 0.4017643266213253 0.49167962411216626 0.019351673926314455 0.10962131047181352 0.3963782644552009
    """,
    "svm": """
        44.30375245218264 0.0005190263017695167 0.0025766385746135885
        43.11710058685489 0.00026524963767594775 0.0038333321561566623
        20.547625125911335 0.000779422611516095 0.07155682161754869
        14.135935551752295 0.0006190490166774184 0.001304907355036239
        50.598038746604296 0.0008425518534432112 1.923730509654649e-05
        17.826497151386942 0.0005251997291427971 1.0010539860510485e-05
        8.072307884499754 0.0001402025429555412 2.3407464805767515e-05
        3.620600725744739 0.0002215953929680393 0.00038642916535526494
        41.34759007834718 0.00026253941572909975 0.005506529897945991
        4.10541201685889 0.0007552964377119542 1.2869165107815022e-05
        20.3228544324115 0.0001061515235567512 0.001579973895360495
        20.228662931987557 0.00026324964978173386 0.00020957490791939475
        4.1109850943453345 0.00041617018769270046 0.00015798603319028853
        6.3165774463251365 0.00041795914565344186 0.0013078814409401437
        2.533610417321417 0.0003262707349770297 5.467130776888183e-05
        44.91523825137996 0.000510678792259867 0.0001457534876894738
        34.07868400892513 0.0007815323407349063 0.038474444287036155
        2.3809810087779435 0.00016115466367706287 1.6064559195630018e-05
        21.010168283379798 0.00010712139282714023 0.00067194371723212
        88.59967786158751 0.00018988352381028525 0.005070135988670236
        796.3234721775591 0.00035255936003789317 0.07775663179233841
        139.45946057144926 0.000498573079003569 7.317419987380096e-05
        848.8351677146046 0.00010144490860344396 0.00010278493120340689
        20.15461920821694 0.0006017040321365156 6.176469460575708e-05
        388.13222938008863 0.000962499864797902 4.522399928843747e-05
        4.634250583294876 0.0007425612910809719 6.712381339142237e-05
        569.9447057339409 0.0003079010633739317 0.0027988231123708966
        198.48311604777234 0.00032992709862707064 0.00015388702589035815
        3.657326105917763 0.00012043182531873047 0.008990030906808324
        21.08276989264785 0.00014398255227198898 0.03309391330085812
        477.0681841935447 0.00021477306023087516 0.019271543171162763
        1.3337974327752802 0.00012813172705648454 0.0023999835049635016
        38.85546284051117 0.0002623055190979327 0.0002195995253567472
        73.71541189991001 0.0002742467099012294 0.0087806855646255
        35.81865187019157 0.0003791915058025484 0.00381434861866471
        1.6940447095242739 0.0006024469253300581 0.0005670703311028811
        148.0456099049567 0.0009505818372837347 0.0014255533717547394
        31.86848301848485 0.00011804596135005044 0.00011851025167261408
        31.597120213268777 0.000477782233279452 0.01640424112822734
        13.893875388295642 0.00011639554198431825 0.00014209617815888042
        417.14611994124607 0.0009301235977824785 0.029976309274600935
        39.1351564802054 0.00017089459530195188 1.1106960237430245e-05
        19.561693722684286 0.00025255231863227726 0.0012322495987505246
        27.2380107788693 0.00035921666276967425 0.0014912280706161866
        191.7285230701909 0.0005156732151553998 0.0030111222251270994
        1.0742922968438615 0.00031759568417856997 0.0009618186025955834
        2.5205109405352495 0.00013871105837933085 7.485739374074104e-05
        18.01044906748641 0.00017705213512497826 2.16889538501089e-05
        10.876669198234849 0.00014681700030641284 0.032676560894242555
        712.6759361504561 0.00010933227267845903 0.006257913640897909
    """,
    "ada": """
        63 1.6646722614124754
        87 1.7228945369609432
        66 0.008354270566129826
        37 0.00019211659757411962
        35 0.024452630570839917
        100 4.60030680449031
        22 9.890143127152722
        31 0.00961398934516561
        45 0.22321849928717633
        94 1.7043335115909477
        27 4.546784063337942
        95 0.026530502996040546
        39 0.0005917433219464832
        73 0.00039788055309291514
        54 0.1457768806817529
        16 1.5839636792271974
        21 0.07023549332126304
        49 0.00012409093110171479
        14 0.0017355674086288744
        18 0.2979327625937022
        91 0.0007302585582149577
        87 0.11096295335135392
        64 0.0005097073170297146
        30 0.3105282955657252
        91 0.14615562080255187
        15 1.4342972768843987
        43 7.892689098336297
        18 0.009631258205288198
        42 0.027113774781246353
        99 1.100039842371944
        95 0.0011143762188057084
        16 0.007088380337693443
        99 0.0003143101899487747
        65 0.044872712193941934
        53 1.3367384122003858
        30 0.003934242529778952
        98 0.018963765076915738
        38 0.00208619161342757
        18 0.012498590870713535
        11 0.04353353901308501
        11 0.0015747001884026848
        44 1.2086662869781049
        48 0.11485943233545798
        79 0.010224111241658
        88 4.287379990443827
        43 0.031307747488797166
        11 0.003811724814240884
        11 2.432797928239829
        22 0.0004932491937603573
        46 0.029735317201090173
    """,
    "mlp_sgd": """
        139 1.1630395714480335 216 0.02449102463401213 0.39357815616936087 0.014222570771709842
        95 2.189161813274829e-05 75 0.0008140675984583295 0.5956702712389667 0.027524723274259304
        109 1.0386580256500308 91 0.003914600869268913 0.22459068051013392 0.7431039702777205
        71 1.6615887770118951 124 0.01598243724741151 0.31380635630588366 0.1087285532228198
        158 0.03105408607593022 139 0.010825862263250658 0.1262006352066918 0.02633876898085861
        200 3.9386206724436224 41 0.09912017526620899 0.16799104738110393 0.015472833880662699
        108 0.10434609979357326 235 0.024279719592336452 0.1990393326736252 0.03744695910100082
        117 0.00023848621577045981 138 0.04527391991788818 0.2730764593832705 0.019584322761279024
        191 0.4680965260176412 182 0.016256611075126253 0.12261807012299814 0.03582881985650172
        180 0.9438031971786861 209 0.00012365164457104458 0.1139022704454117 0.10263435748586042
        78 3.883695706453229 237 0.000868953200496221 0.2022411350919729 0.002905446742026661
        155 5.244489926659613e-05 126 0.0033958689528894794 0.6036521056579498 0.11188740474257428
        125 0.033172779961338134 183 0.0001081414891665223 0.3320582261795402 0.016662743799897742
        77 6.573466211768384 81 0.00014173439801472388 0.12908524487849404 0.0035083438432789134
        124 0.024807944140628875 63 0.01174802017475964 0.3555428098245127 0.003187109691163522
        61 1.095706562156234 39 0.001893412804339247 0.2612540818644053 0.0011382453367174076
        56 0.0003071353348302487 32 0.006015816920825813 0.13763166731084675 0.022872834873117268
        82 0.0013287106968207592 128 0.04499930257575027 0.5380022416045742 0.8327636100005468
        110 0.02073154660543067 84 0.0022206487826510633 0.18295338655535942 0.023100733340570632
        164 0.8043116425855964 72 0.03734740413372437 0.4847846230630253 0.001153013936524833
        185 0.00010868559479168232 215 0.002729872765365064 0.37171794949938475 0.0026566298800658164
        84 0.1550677250216136 227 0.003402925314669473 0.1011400301744161 0.052097967219698935
        104 0.04214942258387752 104 0.017692572850768928 0.38414723969224573 0.0062994922760191835
        147 0.7351443178574234 15 1.442518685319361e-05 0.7975590482703068 0.021819944836148658
        116 2.47889002222658e-05 52 0.029075757573501154 0.6381611878696865 0.5957410104175082
        58 0.9726733314666519 97 0.08275228539305446 0.12181788428012347 0.015489501067079223
        103 0.008314343846587151 248 0.017105143900736794 0.416621112737509 0.28711924847813325
        86 0.38568757833618067 37 6.55569879276572e-05 0.12991097815821193 0.42986071285403027
        129 0.008970486390256775 186 1.1437286611053356e-05 0.12276963806369298 0.30151130367796736
        175 2.26186199275213 240 0.0017593347551361478 0.12201280585739721 0.9717039547524512
        192 0.00018048379017279314 25 0.0003022996259340019 0.8708760928192826 0.0019877961953847956
        141 0.015218743027253973 126 0.019991120751152176 0.5253702460785141 0.014782820222583577
        86 8.584017153111625e-05 184 0.04537133715001075 0.2827363552768046 0.1084468349665291
        170 0.005611868263591212 172 3.9028222507592036e-05 0.21915707021444342 0.07065810048942124
        116 0.0285571006446678 30 7.818697256302226e-05 0.1614061616651808 0.29951408690603204
        84 0.0008200368234233452 245 0.0006642623740593297 0.19675187237917643 0.006187252817877669
        63 0.0032827156264414897 14 0.0012913952340288435 0.6746014707377317 0.00982593743475593
        109 0.11116870270214292 171 0.0059720894186451115 0.2138661655160226 0.6140174059962987
        89 0.31957762667561357 71 0.02542016382697843 0.14658466754879512 0.23547615657468535
        191 0.00493122447162461 102 0.0002690921100550543 0.1529354464713778 0.0020016044504532742
        52 0.0002732986304310455 101 0.018443575882685893 0.2529444115894811 0.068522636337359
        165 0.0025795899681472665 219 0.05078711947636782 0.1379812508330514 0.12713903776370272
        110 0.8120745026823755 15 0.00025777926276072846 0.28844518546015185 0.4207920787201248
        58 0.00040120174799930546 80 0.005082535731465817 0.19358089414679924 0.003532067536285185
        116 0.015343991388981033 237 0.0011337337637089997 0.4392890140719863 0.0023177678117641417
        105 0.009880574266693438 12 0.0001840336465298778 0.10297040725611853 0.42784105789255567
        71 6.787028312162258e-05 105 0.0009519585976200257 0.2001072491369122 0.013233997797249203
        160 6.418366125924405 178 3.4809725497448065e-05 0.13482910156691313 0.7112271681370698
        133 4.569213177741012 161 0.0018175184661841815 0.40766478521836574 0.1971164084019827
        106 1.0133863115028274 35 2.0761752339344293e-05 0.11603076970935929 0.029697895186842457
    """,
}
