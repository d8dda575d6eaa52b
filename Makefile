# lensfind: two commands on a fresh machine -- `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
# TFP 0.25's JAX substrate does not import with JAX 0.10; the JAX backend's refine engine
# (lensfind/refine/engine_jax.py) uses this tfp-nightly's, kept apart from the TensorFlow
# install's tensorflow-probability and put first on the path by test-jax (same as the GPU runs)
TFP_JAX_PIN := tfp-nightly==0.26.0.dev20261027
TFP_JAX := $(VENV)/tfp-jax-$(subst ==,-,$(TFP_JAX_PIN))
SMALL ?=
RUNS ?= runs
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED = 1

SMALL_FLAG := $(if $(SMALL),--small,)

.PHONY: install demo test test-jax

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/lensfind demo --out demo-output

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-jax

# make test-jax [JAX_PYTEST_ARGS=...]: the model, training and scoring paths again with
# KERAS_BACKEND=jax and TensorFlow made unimportable (tests/no_tensorflow.py), as on a JAX-only
# GPU machine; about 3 minutes on 2 CPU cores. `make test` runs it after the main run.
JAX_TESTS := tests/test_probabilistic.py tests/zoo/test_layers.py tests/zoo/test_sampling.py \
	tests/zoo/test_regression_heads.py 'tests/zoo/test_backbones.py::test_every_backbone_builds_and_predicts[lensflow]' \
	tests/tasks/test_new_task.py \
	tests/train/test_distribute.py tests/train/test_checkpoint_interval.py \
	tests/data/test_device_augment.py tests/train/test_augmented.py \
	tests/train/test_cv.py::test_tiny_cv_learns_and_writes_a_complete_run_directory \
	tests/train/test_cv.py::test_saved_models_load_safely_and_reproduce_the_out_of_fold_scores \
	tests/score/test_score_runner.py tests/score/test_score_stacks.py tests/score/test_score_shards.py \
	tests/refine/test_forward.py tests/refine/test_target.py tests/refine/test_posterior.py \
	tests/refine/test_candidates.py tests/refine/test_integration.py tests/refine/test_fit.py
JAX_DESELECT := not test_killed_run_resumes_to_the_same_file
JAX_PYTEST_ARGS ?=

$(TFP_JAX): | $(STAMP)
	$(BIN)/python -m pip install -q --no-deps --target $@.partial $(TFP_JAX_PIN)
	mv $@.partial $@

test-jax: install $(TFP_JAX)
	KERAS_BACKEND=jax JAX_PLATFORMS=cpu PYTHONPATH=$(TFP_JAX) $(BIN)/python -m pytest \
		-p tests.no_tensorflow \
		$(JAX_TESTS) -k "$(JAX_DESELECT)" $(JAX_PYTEST_ARGS)

# ---- lens finding by k-fold cross-validation (thesis Table 5-1) ---------------------------------
# make cv-xception [SMALL=1]: one experiment (resumes an unfinished run; a finished one is only
# summarised again). make cv-all [SMALL=1]: every experiment below, then one comparison table
# and overview plot in $(RUNS)/compare[-small]/. SMALL=1 uses each file's CPU-sized [small] table.
CV_EXPERIMENTS := xception inception resnet nasnet vgg16 vgg19 efficientnet lensflow \
	xception-finetune xception-random
# cv-substructure: the 3-class dark-matter substructure task (not part of the lens-finding
# comparison of cv-all); per-class tables in its run directory. cv-lensflow-wide: cv-lensflow on
# the opt-in wider simulation priors of issue #17 (not in cv-all). cv-lensflow-gri: LensFlow on
# LSST-like g, r, i cutouts (issue #14; not in cv-all).
CV_TARGETS := $(addprefix cv-,$(CV_EXPERIMENTS)) cv-nasnet-large cv-substructure cv-lensflow-wide cv-lensflow-gri
CV_SUFFIX := $(if $(SMALL),-small,)

.PHONY: cv-all cv-compare $(CV_TARGETS)

$(CV_TARGETS): cv-%: install
	$(BIN)/lensfind cv experiments/cv-$*.toml $(SMALL_FLAG) --runs-dir $(RUNS)

cv-all: $(addprefix cv-,$(CV_EXPERIMENTS))
	$(MAKE) cv-compare

cv-compare: install
	$(BIN)/lensfind compare --runs-dir $(RUNS) --out $(RUNS)/compare$(CV_SUFFIX) \
		$(foreach e,$(CV_EXPERIMENTS),--experiment cv-$(e)$(CV_SUFFIX))

# ---- the CPU reference result (issue 17) -------------------------------------------------------
# make reference: experiments/reference-{find,regress}.toml, one fold of five each, then the
#   lenstronomy check set scored and evaluated; targets and measured values in
#   $(RUNS)/reference/reference.md (README, "Reference result"). About 30 minutes on 2 CPU cores;
#   resumes after a kill.
.PHONY: reference

reference: install
	$(BIN)/python benchmarks/reference.py --runs-dir $(RUNS) --out $(RUNS)/reference

# ---- Optuna tuning of dropout rates (issue 5) ---------------------------------------------------
# make tune-dropout [SMALL=1] [N_TRIALS=30] [WORKERS=2] [STORAGE=postgresql://user@host/db]
#   lens finding: maximise the validation ROC AUC over the head's dropout rates. Re-running
#   continues the same study (database $(RUNS)/tune-dropout[-small]/tune/study.db by default);
#   the best configuration lands in $(RUNS)/tune-dropout[-small]/tune/<study>/best.toml with plots.
# make tune-dropout-regress: regression, NLL and calibration error (Pareto front).
# make cv-tuned-dropout [SMALL=1]: cross-validate the best configuration found by tune-dropout.
# make dashboard [PORT=8080] [EXPERIMENT=experiments/tune-dropout.toml] [SMALL=1] [STORAGE=URL]:
#   optuna-dashboard on the study database, bound to 127.0.0.1; prints the URL.
N_TRIALS ?=
WORKERS ?=
STORAGE ?=
PORT ?= 8080
EXPERIMENT ?= experiments/tune-dropout.toml
TUNE_ARGS = $(SMALL_FLAG) --runs-dir $(RUNS) $(if $(N_TRIALS),--n-trials $(N_TRIALS),) \
	$(if $(WORKERS),--workers $(WORKERS),) $(if $(STORAGE),--storage $(STORAGE),)

.PHONY: tune-dropout tune-dropout-regress cv-tuned-dropout dashboard

tune-dropout: install
	$(BIN)/lensfind tune experiments/tune-dropout.toml $(TUNE_ARGS)

tune-dropout-regress: install
	$(BIN)/lensfind tune experiments/tune-dropout-regress.toml $(TUNE_ARGS)

cv-tuned-dropout: install
	$(BIN)/lensfind cv $(RUNS)/tune-dropout$(CV_SUFFIX)/tune/tune-dropout$(CV_SUFFIX)/best.toml \
		$(SMALL_FLAG) --runs-dir $(RUNS)

dashboard: install
	$(BIN)/lensfind dashboard $(if $(STORAGE),--storage $(STORAGE),$(EXPERIMENT) $(SMALL_FLAG)) \
		--host 127.0.0.1 --port $(PORT) --runs-dir $(RUNS)

# ---- lens parameters with a full covariance and MC dropout (issue 4) ----------------------------
# make regress-xception [SMALL=1] (also regress-alexnet_bn, regress-lensflow): k-fold
#   cross-validation of experiments/regress-<backbone>.toml (same resume and run-directory rules
#   as cv-*); tables regress_table1.md / regress_coverage.md and plots/regress_*.png in the run.
# make regress-dropout-sweep [SMALL=1]: the paper's dropout rates 0.02, 0.03, 0.1, one run each,
#   from the [sweep] table of one file; comparison in $(RUNS)/regress-dropout-sweep[-small]/sweep.md.
REGRESS_BACKBONES := xception alexnet_bn lensflow
REGRESS_TARGETS := $(addprefix regress-,$(REGRESS_BACKBONES))

.PHONY: $(REGRESS_TARGETS) regress-dropout-sweep

$(REGRESS_TARGETS): regress-%: install
	$(BIN)/lensfind cv experiments/regress-$*.toml $(SMALL_FLAG) --runs-dir $(RUNS)

regress-dropout-sweep: install
	$(BIN)/lensfind sweep experiments/regress-dropout-sweep.toml $(SMALL_FLAG) --runs-dir $(RUNS)
