#!/usr/bin/env bash
# Every GPU check in one run, for a GPU machine (warp-lang, usd-core and trimesh must be installed there;
# zxing-cpp and embreex travel as wheels, stashed in $WHEELS):
#
#     bash bench/gpu_checks.sh [DEVICE] [LOG_DIR]        (default: cuda, $OUT or /tmp/swb-gpu)
#
# 1. the test suite with every kernel on DEVICE (SWB_TEST_DEVICE; CAD import needs no GPU and is left out),
# 2. the sweep goal (>= 100 000 configurations x 8 cameras x >= 1 000 label orientations, end to end),
# 3. the core benchmark (1 M triangles, 64 cameras, 10 000 targets; checked against the numpy reference),
# 4. rendering and a 600-case validation study on DEVICE, kept in LOG_DIR/render for the CPU comparison
#    (`python bench/bench_render.py --against LOG_DIR/render` where Warp can compile CPU kernels).
# 5. the transit read rate benchmark (every frame of every camera along every moving label),
# 6. the core benchmark at scale: 64 cameras x 100 000 labels (6.4 M pairs; issue 17's culling-heavy rate).
# STEPS picks some (default: "pytest goal core transit render scale"); RENDER_STUDY sets the study's size (0: none). Each step has its own time limit so that one slow step
# leaves time for the others; logs go to LOG_DIR.
set -u
DEV=${1:-cuda}
LOGS=${2:-${OUT:-/tmp/swb-gpu}}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
WHEELS=${WHEELS:-/tmp/swb-wheels}
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# SWB itself as pyproject.toml lays it out (kernels/, schemas/, scenes/ inside the package), without a build step
rm -rf /tmp/swb && mkdir -p /tmp/swb/bin && cp -r swb /tmp/swb/ || exit 1
for d in kernels schemas scenes; do cp -r "$d" "/tmp/swb/swb/$d" || exit 1; done
printf '#!/usr/bin/env python3\nimport sys\nfrom swb.cli import main\nsys.exit(main())\n' >/tmp/swb/bin/swb
chmod +x /tmp/swb/bin/swb
export PYTHONPATH=/tmp/swb${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/swb/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
STEPS=${STEPS:-pytest goal core transit render scale}

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $name (limit ${limit} s)"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"
  tail -n "${TAIL:-14}" "$LOGS/$name.log"
}

# The tests from the installed copy's folder, so that subprocesses started in the working directory import it too.
rm -rf /tmp/swb/tests && cp -r tests /tmp/swb/tests
(cd /tmp/swb && SWB_TEST_DEVICE=$DEV TAIL=8 step pytest 180 pytest -q -p no:cacheprovider \
  --ignore=tests/test_cad_import.py --ignore=tests/test_cuda_codegen.py tests)
step goal 60 python3 bench/bench_sweep.py --goal --device "$DEV"
step core 120 python3 bench/bench_core.py --device "$DEV"
step transit 120 python3 bench/bench_transit.py --device "$DEV"
step render 240 python3 bench/bench_render.py --device "$DEV" --study "${RENDER_STUDY:-600}" --seed 6 \
  --save "$LOGS/render"
step scale 180 python3 bench/bench_core.py --device "$DEV" --cameras 64 --targets 100000
