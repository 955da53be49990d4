"""The tabular-HPO protocols (METHODS §4.5) pinned to the official code: LLAMBO's ``exp_bayesmark/run_bayesmark.py``
and ``bayesmark/bbox_utils.py`` (``protocol="llambo"``) and Bayesmark's ``bayesmark/sklearn_funcs.py``
(``protocol="bayesmark"``).

Reference numbers come from LLAMBO's repository (``tests/data/llambo``, MIT licence): its split, its initial
configurations and the CV scores it shipped for them. Every score is also recomputed here by an independent
transcription of LLAMBO's recipe (``_llambo_recipe``), not through the env's code."""

import hashlib
import json
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets, ensemble, neural_network, svm, tree
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_val_score, train_test_split

from expobench.envs.hpo import MODELS, PROTOCOLS, SPACES, HPOEnv, build_model, llambo_initial_configs
from expobench.envs.opro_text import HPOTask

DATA = Path(__file__).parent / "data" / "llambo"
LLAMBO_NAME = {"rf": "RandomForest", "dt": "DecisionTree", "svm": "SVM", "mlp_sgd": "MLP_SGD", "ada": "AdaBoost"}
LLAMBO_DATASET = {"breast_cancer": "breast"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path / "cache"))


def _load(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X, y


def _llambo_recipe(dataset, model, config):
    """``(cv, generalization)`` as LLAMBO's ``BayesmarkExpRunner.evaluate_point`` computes them (its sign: MSE
    positive), written out here from its code without using the env."""
    X, y = _load(dataset)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    reg = dataset == "diabetes"
    if reg:
        mean_, std_ = np.mean(y_tr), np.std(y_tr)
        y_tr, y_te = (y_tr - mean_) / std_, (y_te - mean_) / std_
    make = {
        "dt": partial(tree.DecisionTreeRegressor if reg else tree.DecisionTreeClassifier, max_leaf_nodes=None,
                      random_state=0),
        "rf": partial(ensemble.RandomForestRegressor if reg else ensemble.RandomForestClassifier, n_estimators=10,
                      max_leaf_nodes=None, random_state=0),
        "svm": partial(svm.SVR, kernel="rbf") if reg else partial(svm.SVC, kernel="rbf", probability=True,
                                                                  random_state=0),
        "mlp_sgd": partial(neural_network.MLPRegressor, activation="tanh") if reg else neural_network.MLPClassifier,
    }[model]
    if model == "mlp_sgd":
        make = partial(make, solver="sgd", early_stopping=True, max_iter=40, learning_rate="invscaling",
                       nesterovs_momentum=True, random_state=0)
    scorer = get_scorer("neg_mean_squared_error" if reg else "accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = np.mean(cross_val_score(make(**config), X_tr, y_tr, scoring=scorer, cv=5))
        gen = scorer(make(**config).fit(X_tr, y_tr), X_te, y_te)
    return (-cv, -gen) if reg else (cv, gen)


# -- data ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("dataset", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_split_is_the_unstratified_80_20_split_with_raw_features(dataset, protocol):
    X, y = _load(dataset)
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0)
    X_tr, X_te, y_tr, y_te, clf = HPOEnv(dataset, "dt", protocol=protocol)._data
    assert clf == (dataset != "diabetes")
    assert np.array_equal(X_tr, X[idx_tr]) and np.array_equal(X_te, X[idx_te])  # raw features, no scaling
    if clf or protocol == "bayesmark":
        assert np.array_equal(y_tr, y[idx_tr]) and np.array_equal(y_te, y[idx_te])  # raw target
    if clf:  # not the stratified split
        strat_te = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y)[1]
        assert not np.array_equal(np.sort(idx_te), np.sort(strat_te))


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.mark.parametrize("dataset", ["iris", "wine", "breast_cancer", "digits"])
def test_split_equals_llambos_data_files(dataset):
    ref = json.loads((DATA / "splits.json").read_text())[LLAMBO_DATASET.get(dataset, dataset)]
    X_tr, X_te, y_tr, y_te, _ = HPOEnv(dataset, "dt")._data
    for key, arr in {"train_x": X_tr, "test_x": X_te, "train_y": y_tr, "test_y": y_te}.items():
        assert list(arr.shape) == ref[key]["shape"]
        assert _sha(arr.astype(ref[key]["dtype"])) == ref[key]["sha256"], key


def test_diabetes_target_is_standardised_with_training_statistics_only():
    _, y = _load("diabetes")
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0)
    mean, std = y[idx_tr].mean(), y[idx_tr].std()
    _, X_te, y_tr, y_te, _ = HPOEnv("diabetes", "dt")._data
    assert np.array_equal(y_tr, (y[idx_tr] - mean) / std) and np.array_equal(y_te, (y[idx_te] - mean) / std)
    assert abs(y_tr.mean()) < 1e-12 and abs(y_tr.std() - 1) < 1e-12 and abs(y_te.mean()) > 0.01  # not the test's
    leaky = (y[idx_te] - y.mean()) / y.std()  # full-data statistics (the test rows leak)
    assert np.abs(y_te - leaky).max() > 1e-3
    ref = json.loads((DATA / "splits.json").read_text())["diabetes"]  # LLAMBO's data file: already standardised
    assert _sha(X_te) == ref["test_x"]["sha256"]
    assert np.abs(y_tr - ref["train_y"]["values"]).max() < 1e-12
    assert np.abs(y_te - ref["test_y"]["values"]).max() < 1e-12


# -- spaces, splitter, models --------------------------------------------------------------------------------

# Bayesmark's sklearn_funcs.py (LLAMBO's hp_configurations/bayesmark.json is the same but for the MLP's tol and
# validation_fraction, which LLAMBO drops): (name, low, high, scale, integer)
_TREE = {("max_depth", 1, 15, "linear", True), ("max_features", 0.01, 0.99, "logit", False),
         ("min_impurity_decrease", 0.0, 0.5, "linear", False), ("min_samples_leaf", 0.01, 0.49, "logit", False),
         ("min_samples_split", 0.01, 0.99, "logit", False), ("min_weight_fraction_leaf", 0.01, 0.49, "logit", False)}
_MLP = {("hidden_layer_sizes", 50, 200, "linear", True), ("alpha", 1e-5, 10.0, "log", False),
        ("batch_size", 10, 250, "linear", True), ("learning_rate_init", 1e-5, 1e-1, "log", False),
        ("power_t", 0.1, 0.9, "logit", False), ("momentum", 0.001, 0.999, "logit", False)}
EXPECTED_SPACES = {
    "rf": _TREE, "dt": _TREE,
    "svm": {("C", 1.0, 1e3, "log", False), ("gamma", 1e-4, 1e-3, "log", False), ("tol", 1e-5, 1e-1, "log", False)},
    "ada": {("n_estimators", 10, 100, "linear", True), ("learning_rate", 1e-4, 10.0, "log", False)},
    "mlp_sgd": _MLP,
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_search_spaces_and_scales(protocol):
    for model in MODELS:
        got = {(p.name, p.low, p.high, p.scale, p.integer) for p in SPACES[protocol][model]}
        want = set(EXPECTED_SPACES[model])
        if protocol == "bayesmark" and model == "mlp_sgd":
            want |= {("tol", 1e-5, 1e-1, "log", False), ("validation_fraction", 0.1, 0.9, "logit", False)}
        assert got == want, model
        assert len(SPACES[protocol][model]) == len(want)
    env = HPOEnv("iris", "dt", protocol=protocol)
    for name in ("min_samples_leaf", "min_samples_split", "min_weight_fraction_leaf"):
        i = env.space.names.index(name)
        mid = np.full(env.space.dim, 0.5)
        assert env.space.from_unit(mid)[i] == pytest.approx(0.5 if name == "min_samples_split" else
                                                            1 / (1 + np.sqrt(0.99 * 0.51 / (0.01 * 0.49))))


def test_cv_is_scikit_learns_default_unshuffled_5_fold():
    for dataset, cls in (("iris", StratifiedKFold), ("diabetes", KFold)):
        env = HPOEnv(dataset, "dt")
        splitter = env.cv_splitter()
        assert type(splitter) is cls and splitter.n_splits == 5 and splitter.shuffle is False
        X_tr, _, y_tr, _, clf = env._data
        default = check_cv(5, y_tr, classifier=clf)  # what cross_val_score(..., cv=5) uses
        for (a, b), (c, d) in zip(splitter.split(X_tr, y_tr), default.split(X_tr, y_tr)):
            assert np.array_equal(a, c) and np.array_equal(b, d)
    env = HPOEnv("wine", "svm")
    x = env.warm_start[0]
    X_tr, _, y_tr, _, _ = env._data
    independent = cross_val_score(svm.SVC(probability=True, random_state=0, **env.space.to_dict(x)), X_tr, y_tr,
                                  cv=5, scoring="accuracy").mean()
    assert env.evaluate(x)[0] == independent


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("clf", [True, False])
def test_model_settings(protocol, clf):
    for model in MODELS:
        cfg = HPOEnv("iris", model, protocol=protocol).space.to_dict(
            HPOEnv("iris", model, protocol=protocol, n_initial=1).initial_points(11)[0])
        est = build_model(model, cfg, clf, protocol)
        params = est.get_params()
        assert not hasattr(est, "steps"), "no pipeline, no scaler"
        assert all(params[k] == v or params[k] == (v,) for k, v in cfg.items()), model
        if model != "svm" or clf:
            assert params["random_state"] == 0, model
        if model == "rf":
            assert params["n_estimators"] == 10 and params["max_leaf_nodes"] is None
        if model == "svm":
            assert type(est) is (svm.SVC if clf else svm.SVR) and params["kernel"] == "rbf"
            assert not clf or params["probability"] is True
        if model == "mlp_sgd":
            assert type(est) is (neural_network.MLPClassifier if clf else neural_network.MLPRegressor)
            assert params["solver"] == "sgd" and params["learning_rate"] == "invscaling"
            assert params["early_stopping"] is True and params["nesterovs_momentum"] is True
            assert params["activation"] == ("relu" if clf else "tanh")
            assert params["max_iter"] == (40 if protocol == "llambo" else 200)
            assert isinstance(params["hidden_layer_sizes"], tuple)
            if protocol == "bayesmark":
                assert params["tol"] == cfg["tol"] and params["validation_fraction"] == cfg["validation_fraction"]
            else:
                assert params["tol"] == 1e-4 and params["validation_fraction"] == 0.1  # scikit-learn's defaults


# -- metrics -------------------------------------------------------------------------------------------------


def test_protocol_and_metric_are_validated():
    with pytest.raises(ValueError, match="protocol: unknown 'hpobench'; allowed: llambo, bayesmark"):
        HPOEnv("iris", "dt", protocol="hpobench")
    with pytest.raises(ValueError, match="metric: unknown 'nll'.*llambo.*allowed: acc"):
        HPOEnv("iris", "dt", metric="nll")
    with pytest.raises(ValueError, match="metric: unknown 'mse'.*allowed: acc, nll"):
        HPOEnv("iris", "dt", protocol="bayesmark", metric="mse")
    with pytest.raises(ValueError, match="metric: unknown 'acc'.*allowed: mse, mae"):
        HPOEnv("diabetes", "dt", protocol="bayesmark", metric="acc")
    assert HPOEnv("iris", "dt", protocol="bayesmark").metric == "acc"
    assert HPOEnv("diabetes", "dt", protocol="bayesmark").metric == "mse"
    assert HPOEnv("diabetes", "dt").metric == "mse"


@pytest.mark.parametrize(("dataset", "metric", "scoring"), [
    ("iris", "acc", "accuracy"), ("iris", "nll", "neg_log_loss"),
    ("diabetes", "mse", "neg_mean_squared_error"), ("diabetes", "mae", "neg_mean_absolute_error")])
def test_bayesmark_metrics_on_the_raw_data(dataset, metric, scoring):
    env = HPOEnv(dataset, "dt", protocol="bayesmark", metric=metric)
    env.reset(seed=3)
    x = env.warm_start[1]
    cfg = env.space.to_dict(x)
    X, y = _load(dataset)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)  # raw target, too
    make = tree.DecisionTreeClassifier if dataset == "iris" else tree.DecisionTreeRegressor
    cv = cross_val_score(make(random_state=0, **cfg), X_tr, y_tr, cv=5, scoring=scoring).mean()
    test = get_scorer(scoring)(make(random_state=0, **cfg).fit(X_tr, y_tr), X_te, y_te)
    _, r, _, _, info = env.step(x)
    assert r == pytest.approx(cv, abs=1e-12) and info["test_score"] == pytest.approx(test, abs=1e-12)
    assert info["loss"] == -r and info["score"] == r
    assert (0 < r <= 1) if metric == "acc" else r < 0  # higher is better: a loss comes negated
    if dataset == "diabetes":
        assert -r > (1000 if metric == "mse" else 30)  # of the raw target (~ 25-346), not a standardised one
    words = {"acc": "accuracy", "nll": "negative log loss", "mse": "negative mean squared error",
             "mae": "negative mean absolute error"}[metric]
    assert f"cross-validated {words}" in env.describe_task()


def test_describe_task_and_text_task_state_the_metric():
    llambo = HPOEnv("diabetes", "dt")
    assert "negative mean squared error of the target standardised with the training part's mean and std" \
        in llambo.describe_task()
    task = HPOTask(llambo)
    assert task.lower_bound == 0.0 and "its cross-validated mean squared error of the target" in task.description(False)
    nll = HPOTask(HPOEnv("iris", "dt", protocol="bayesmark", metric="nll"))
    assert nll.lower_bound == 0.0 and "its cross-validated log loss" in nll.description(False)
    acc = HPOTask(HPOEnv("iris", "dt"))
    assert acc.lower_bound == -1.0 and "its cross-validated negative accuracy" in acc.description(False)
    x = acc.env.warm_start[0]
    assert acc.value(tuple(x)) == -acc.env.evaluate(x)[0]


def test_cache_separates_protocols_and_metrics():
    a = HPOEnv("diabetes", "dt")
    b = HPOEnv("diabetes", "dt", protocol="bayesmark")
    c = HPOEnv("diabetes", "dt", protocol="bayesmark", metric="mae")
    x = a.warm_start[0]
    values = [e.evaluate(x)[0] for e in (a, b, c)]
    assert len(set(values)) == 3 and [e.cache_misses for e in (a, b, c)] == [1, 1, 1]
    assert len({e._key(e.space.to_dict(x)) for e in (a, b, c)}) == 3


# -- LLAMBO's initial configurations and shipped scores ------------------------------------------------------


def test_llambo_initial_points_are_llambos_configurations():
    shipped = json.loads((DATA / "initial_configs.json").read_text())
    for model in MODELS:
        env = HPOEnv("iris", model)
        for seed in range(10):
            want = np.array([[c[n] for n in env.space.names] for c in shipped[LLAMBO_NAME[model]][seed]])
            assert np.array_equal(env.initial_points(seed), want), (model, seed)
            assert np.array_equal(llambo_initial_configs(model, seed), want)
            assert all(env.space.check(p) is None for p in want)
        env.reset(seed=4)
        assert np.array_equal(env.warm_start, env.initial_points(4))
    env = HPOEnv("iris", "svm")
    assert np.array_equal(HPOEnv("iris", "svm", n_initial=3).initial_points(2), env.initial_points(2)[:3])
    beyond = env.initial_points(10)  # LLAMBO ships seeds 0-9; later seeds get a seeded Sobol design
    assert np.array_equal(beyond, env.initial_points(10)) and not np.array_equal(beyond, env.initial_points(11))
    assert all(env.space.check(p) is None for p in beyond)
    assert HPOEnv("iris", "svm", n_initial=6).initial_points(0).shape == (6, 3)  # more than LLAMBO's 5: Sobol
    bm = HPOEnv("iris", "svm", protocol="bayesmark")
    assert not np.array_equal(bm.initial_points(0), env.initial_points(0))  # Bayesmark: Sobol


# The done-criterion: LLAMBO's split and CV scores for its initial configurations on at least three tasks,
# within 1e-9 (here 8 tasks; AdaBoost's classifier changed in scikit-learn 1.6, so its scores are not LLAMBO's).
@pytest.mark.parametrize(("model", "dataset", "n_seeds"), [
    ("dt", "iris", 5), ("dt", "wine", 5), ("dt", "breast_cancer", 5), ("dt", "diabetes", 5), ("svm", "iris", 5),
    ("svm", "wine", 3), ("rf", "wine", 1), ("mlp_sgd", "iris", 1)])
def test_llambo_reproduces_llambos_shipped_cv_scores(model, dataset, n_seeds):
    shipped = json.loads((DATA / "initial_scores.json").read_text())
    env = HPOEnv(dataset, model)
    sign = -1.0 if dataset == "diabetes" else 1.0  # LLAMBO stores the MSE itself; the reward is its negative
    for seed in range(n_seeds):
        env.reset(seed=seed)
        ref = shipped[f"{LLAMBO_DATASET.get(dataset, dataset)}/{LLAMBO_NAME[model]}/{seed}"]
        for x, (cv_ref, gen_ref) in zip(env.warm_start, ref, strict=True):
            cv, gen = env.evaluate(x)
            own_cv, own_gen = _llambo_recipe(dataset, model, env.space.to_dict(x))
            assert abs(sign * cv - own_cv) <= 1e-12 and abs(sign * gen - own_gen) <= 1e-12
            assert abs(sign * cv - cv_ref) <= 1e-9 and abs(sign * gen - gen_ref) <= 1e-9, (seed, cv, cv_ref)
