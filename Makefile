# voxforge: `make demo` and `make test` set everything up on a fresh machine, then run.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-ldraw test-web test-exports gltf-validator test-all lint bench setup web serve clean blender-addon test-blender

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m voxforge.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Our LDraw output rendered by LeoCAD (skips when LeoCAD is not installed).
test-ldraw: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/bricks/test_leocad.py

# The web page end to end in Debian's Chromium (Playwright): upload the sample scan, viewer, steps.
test-web: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/service/test_web.py

# The Blender add-on in Debian's Blender, headless (skips when Blender is not installed).
test-blender: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/blender

# The Khronos glTF validator (npm), in .ci/node where the export tests look for it.
gltf-validator: .ci/node/node_modules/gltf-validator/package.json

.ci/node/node_modules/gltf-validator/package.json:
	npm install --prefix .ci/node --no-audit --no-fund gltf-validator@2.0.0-dev.3.10

# Every export format checked by its real client: the glTF validator (node), usdchecker's
# validators (usd-core), Blender and assimp re-imports (each skipped when it is not installed).
test-exports: $(STAMP)
	-command -v npm >/dev/null 2>&1 && $(MAKE) gltf-validator
	$(BIN)/python -m pytest -q -m exports tests/io/test_export_clients.py

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Every benchmark (results in benchmarks/results/), then docs/benchmarks.md from the results.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/run.py --docs

# Rebuild the web page bundle (src/voxforge/service/web/, committed) from web/ with npm.
web:
	cd web && npm ci --no-audit --no-fund && npm run build

# The installable Blender add-on (Edit > Preferences > Add-ons > Install...).
blender-addon:
	mkdir -p dist && rm -f dist/voxforge_blender.zip
	cd blender_addon && $(PY) -m zipfile -c ../dist/voxforge_blender.zip voxforge_blender

serve: $(STAMP)
	$(BIN)/voxforge serve

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
