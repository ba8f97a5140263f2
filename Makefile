# The book's commands. `make book` and `make test` do all the set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export COLORBOOK_RUNS := $(CURDIR)/runs
export TF_CPP_MIN_LOG_LEVEL := 2
export KERAS_BACKEND := tensorflow
# Jupyter's configuration stays inside the virtual environment.
export JUPYTER_PLATFORM_DIRS := 1

.PHONY: setup book test test-slow test-colab test-full test-browser lint bench experiments photo-model clean

setup: $(STAMP)

$(STAMP): pyproject.toml colorutils/__init__.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (colorutils)" >/dev/null
	touch $(STAMP)

# The experiment grids and every page at book scale, two at a time (tools/execute_book.py: one
# training keeps one core busy, so two lanes of one thread each nearly halve the build; a page
# starts after the pages whose runs it reuses, a grid before its chapter, which then loads what
# the grid trained), stored in the book's jupyter-cache; then the results page; then
# jupyter-book, which finds every page executed and renders it; then the time profile,
# _build/timings.json (tools/book_timings.py: seconds per notebook and grid run, split into
# training, evaluation, building and the rest by tools/kernel_timer.py, an IPython start-up
# file every kernel of the build loads; benchmarks/README.md explains it).
book: export IPYTHONDIR := $(CURDIR)/_build/ipython
book: export COLORBOOK_TIMINGS_DIR := $(CURDIR)/_build/timings
book: export COLORBOOK_TIMER := $(CURDIR)/tools/kernel_timer.py
book: setup
	@rm -rf $(COLORBOOK_TIMINGS_DIR) && mkdir -p $(IPYTHONDIR)/profile_default/startup
	@date +%s > _build/.book-start
	@cp tools/ipython_startup.py $(IPYTHONDIR)/profile_default/startup/00-colorbook-timer.py
	COLORBOOK_SCALE=book $(BIN)/python tools/execute_book.py
	$(BIN)/colorutils experiments report
	COLORBOOK_SCALE=book $(BIN)/jupyter-book build . --toc book/_toc.yml --config _config.yml
	@test -f _build/html/index.html && echo "Book built: $(CURDIR)/_build/html/index.html"
	@$(BIN)/python tools/book_timings.py --since $$(cat _build/.book-start)

lint: setup
	$(BIN)/ruff check colorutils tests benchmarks data notebooks tools

# Two tiers. `make test`, before a commit (goal: 5 minutes on 2 cores): lint, the unit tests not
# marked `slow`, and the chapters in FAST_NOTEBOOKS at scale="smoke" (nbval). `make test-slow`,
# which CI runs too: the tests marked `slow` (trainings through the CLI in subprocesses, grid
# runs, resumed trainings) and every other chapter at scale="smoke"; a new chapter lands there.
# Tests run on PYTEST_JOBS processes (pytest-xdist, one test file per process at a time), each
# TensorFlow with one intra-op thread: a small model's step keeps one core busy, so two such
# processes on 2 cores take about 60 % of the time of one. The slow chapters run one after the
# other (later chapters reuse the run folders of earlier ones).
FAST_NOTEBOOKS := notebooks/00_data.ipynb notebooks/01_color_spaces.ipynb \
	notebooks/08_colorize_your_photos.ipynb
SLOW_NOTEBOOKS := $(filter-out $(FAST_NOTEBOOKS),$(sort $(wildcard notebooks/*.ipynb)))
PYTEST_JOBS ?= 2
PARALLEL := TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
PYTEST_PARALLEL := $(PARALLEL) $(BIN)/python -m pytest -q -n $(PYTEST_JOBS) --dist loadfile \
	-p no:cacheprovider
NBVAL_SMOKE := COLORBOOK_SCALE=smoke $(BIN)/python -m pytest -q --nbval-lax \
	--nbval-cell-timeout=600 -p no:cacheprovider

test: setup lint
	$(PYTEST_PARALLEL) -m "not slow" tests
	$(PARALLEL) $(NBVAL_SMOKE) -n $(PYTEST_JOBS) --dist loadfile $(FAST_NOTEBOOKS)

# pytest exits 5 when it collects nothing: a tier with no slow test left is not a failure.
test-slow: setup
	$(PYTEST_PARALLEL) -m slow tests || test $$? -eq 5
	$(NBVAL_SMOKE) $(SLOW_NOTEBOOKS)

# Every chapter at scale="smoke" on a simulated Colab: Python 3.13 with Colab's package versions
# (.venv-colab, reused while tests/colab/constraints.txt is unchanged), colorutils installed by
# the chapters' own set-up cell from this clone's HEAD; fails if pip would change a package
# Colab ships. Skips (exit 0) where no Python 3.13 is found. Log: _build/test-colab/.
test-colab: setup
	$(BIN)/python tests/colab/simulate.py

# Every chapter that trains, at scale="full" with CPU-sized overrides (one table: OVERRIDES in
# tests/full_dry_run.py): 128 px, the 224 px global path, full widths, the grids, for one epoch
# on a few dozen photos, from fresh run folders in _build/test-full/. Prints each chapter's time.
test-full: setup
	$(BIN)/python tests/full_dry_run.py

# Headless Chromium (system package): the Turing-test page (after `make book` the built book's
# copy, else the source page), the page checks on seeded pages, and every page of the built
# book as a reader sees it (tests/test_book_pages.py: run `make book` first).
test-browser: setup
	@test -x $${CHROMIUM:-/usr/bin/chromium} || echo "no Chromium: apt-get install chromium (the tests skip)"
	COLORBOOK_CHECK_BOOK=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_turing_page.py tests/test_book_checks.py tests/test_book_pages.py tests/test_book_model.py

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Every grid (complete runs are skipped, a failed run does not stop the others), then the
# book's results page (book/results.md); exits 1 if a run failed.
experiments: setup
	@status=0; for g in experiments/*.yml; do $(BIN)/colorutils experiments run $$g || status=1; done; \
	$(BIN)/colorutils experiments report && exit $$status

# The photo model that ships inside the package (colorutils/weights/, issue 25): the photo
# recipe on Caltech 101 (about 8,200 photos at 128 px, CC BY 4.0; not in the repository: set
# PHOTO_DATA), then its quality figures on the held-out test split and on flowers5 (where
# present) against gray and the CIFAR recipe, written into the sidecar. Not part of `make book`.
# Resumable (the same command continues); `make clean` first to retrain from scratch.
PHOTO_DATA ?= ../shared/data/caltech101
PHOTO_EXTRA ?= ../shared/data/flowers5
PHOTO_CREDIT := Caltech 101 (Fei-Fei, Fergus and Perona, CVPR Workshop 2004), CC BY 4.0, data.caltech.edu
photo-model: setup
	$(BIN)/colorutils train --recipe photo --dataset folder:$(PHOTO_DATA) --quiet \
	    --export colorutils/weights/photo_unet.keras --credit "$(PHOTO_CREDIT)"
	$(BIN)/python benchmarks/bench_quality.py --model colorutils/weights/photo_unet.keras \
	    --dataset folder:$(PHOTO_DATA) $(if $(wildcard $(PHOTO_EXTRA)),--dataset folder:$(PHOTO_EXTRA)) --sidecar
# The student versions of the chapters (student/, not committed): each core-idea function a
# stub with a TODO, followed by its check (tools/make_student.py; the book is the solution).
.PHONY: student
student:
	$(PYTHON) tools/make_student.py

clean:
	rm -rf _build runs .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
