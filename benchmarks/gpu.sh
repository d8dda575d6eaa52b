#!/usr/bin/env bash
# Benchmarks on the lent GPU machine (JAX + CUDA, no TensorFlow); see benchmarks/README.md.
#
#   bash benchmarks/gpu.sh STAGE [STAGE ...]      # from the repository root, with .whl/ carried
#
# Stages: info, distribute, score, train-device, xception-pair, refine, train-xception,
# train-lensflow, train-bf16, train-batch, train-fp32. Each writes its output to $OUT/<stage>.txt (OUT defaults to
# benchmarks/out) and prints its table. train-device is issue 12's one-call measurement: it
# runs its parts in order while BUDGET_S (default 540) seconds last, skipping what would not
# fit by its estimate, so one device call of 10 minutes holds it with XLA compiles counted. JAX's persistent compilation cache (/tmp/jax-cache) lets the second side of
# a pair reuse compiled steps; compiling is in the untimed first epoch either way.
set -uo pipefail
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
if ! python3 -c "import keras" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=2

train() {  # bench_train.py with the thesis input sizes, 8 batch threads; epochs of 4096 images
    python3 benchmarks/bench_train.py --input-size default --n 4608 --epochs 4 --repeats 1 \
        --threads 8 "$@"
}

BUDGET_S=${BUDGET_S:-540}
N=${N:-4608}   # cutouts of one run (10 % validation); INPUT_SIZE=small for a dry run on a CPU
part() {  # part ESTIMATE_S LABEL ARGS...: bench_train.py if ESTIMATE_S still fits the budget
    local estimate=$1 label=$2; shift 2
    local left=$((BUDGET_S - SECONDS))
    if (( left < estimate )); then
        echo "--- $label: skipped ($left s left, estimate $estimate s)"; return
    fi
    echo "--- $label (at $SECONDS s)"
    timeout $((left - 5)) python3 benchmarks/bench_train.py --input-size "${INPUT_SIZE:-default}" \
        --n "$N" --epochs 4 --repeats 1 --precision mixed_bfloat16 "$@" 2>&1 \
        | grep -v "^I0000\|^W0000"
    echo "--- $label done at $SECONDS s"
}

for stage in "$@"; do
    log="$OUT/$stage.txt"
    echo "=== $stage" | tee "$log"
    case $stage in
        info)
            nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm \
                --format=csv 2>&1 | tee -a "$log"
            python3 -c "import jax, keras, numpy, scipy; print(jax.devices(), 'jax', \
jax.__version__, 'keras', keras.__version__, keras.backend.backend(), 'numpy', \
numpy.__version__, 'scipy', scipy.__version__)" 2>&1 | tee -a "$log" ;;
        distribute)
            python3 tests/train/distribute_check.py --no-tensorflow 2>&1 | tee -a "$log" \
                | tail -2 ;;
        train-device)  # issue 12: device augmentation, resident data, 'auto' checkpoints
            {
                part 100 "lensflow b128 (bare without augmentation)" lensflow \
                    --batch-size 128 --bare-augment off --n 36864
                part 240 "xception b128 (bare without augmentation)" xception \
                    --batch-size 128 --bare-augment off --no-pipeline
                part 150 "xception b512, lensfind only" xception --batch-size 512 \
                    --n $((9 * 1024)) --sides lensfind --no-pipeline
                part 60 "lensflow b128, host SciPy augmentation (the old path)" lensflow \
                    --batch-size 128 --augment-on host --sides lensfind --no-pipeline \
                    --n 36864
                part 150 "xception b256, lensfind only" xception --batch-size 256 \
                    --sides lensfind --no-pipeline
                part 200 "efficientnet_b0 b128 (bare without augmentation)" efficientnet_b0 \
                    --batch-size 128 --bare-augment off --no-pipeline
            } 2>&1 | tee -a "$log" ;;
        xception-pair)  # issue 12 again: Xception b128 with longer epochs and 8 of them, so
            # the 'auto' checkpoint policy's first and last writes weigh as in a real run
            {
                part 200 "xception b128, 8 epochs (bare without augmentation)" xception \
                    --batch-size 128 --bare-augment off --no-pipeline --n 9216 --epochs 8
            } 2>&1 | tee -a "$log" ;;
        refine)  # issue 16: bench_refine on the JAX engine (tfp-nightly's JAX substrate) for
            # REFINE_S seconds (default: the rest of BUDGET_S); the table is rewritten after
            # every lens, so a cut run reports
            left=${REFINE_S:-$((BUDGET_S - SECONDS - 10))}
            echo "--- refine (at $SECONDS s, $left s left)" | tee -a "$log"
            timeout "$left" python3 benchmarks/bench_refine.py --lenses "${LENSES:-50}" \
                --prior-starts 3 --chains 4 --warmup 400 --draws 400 --out "$OUT/refine" 2>&1 \
                | grep -v "^I0000\|^W0000" | tee -a "$log" | grep "^lens"
            cat "$OUT/refine/bench_refine.md" 2>&1 | tee -a "$log" ;;
        train-xception)  # bf16, resume checkpoints at most every 60 s
            train xception --batch-size 128 --precision mixed_bfloat16 \
                --checkpoint-every-s 60 2>&1 | tee -a "$log" | grep -v "^I0000" | tail -4 ;;
        train-lensflow)  # the small baseline: is the augmentation pipeline fast enough?
            train lensflow --batch-size 128 --precision mixed_bfloat16 --threads "${THREADS:-14}" \
                --checkpoint-every-s 60 2>&1 | tee -a "$log" | grep -v "^I0000" | tail -4 ;;
        train-bf16)
            train lensflow efficientnet_b0 xception --batch-size 128 \
                --precision mixed_bfloat16 2>&1 | tee -a "$log" | grep -v "^I0000" | tail -8 ;;
        train-batch)  # Xception bf16 at larger batches
            for b in 256 512; do
                train xception --batch-size $b --n $((36 * b)) --precision mixed_bfloat16 2>&1 \
                    | tee -a "$log" | grep -v "^I0000" | tail -3
            done ;;
        train-fp32)
            train lensflow xception --batch-size 128 --checkpoint-every-s 60 2>&1 \
                | tee -a "$log" | grep -v "^I0000" | tail -5 ;;
        score)  # Xception at 200 px (100 px cutouts through the stem), bf16: FITS files through
            # the shared-memory reader processes, and one HDF5 stack (read in threads)
            python3 benchmarks/bench_score.py --backbone xception --input-size 200 \
                --precision mixed_bfloat16 --n 20000 --batch-size 512 --chunk-size 4096 \
                --workers 14 --readers processes --repeats 2 --paths files stack 2>&1 \
                | tee -a "$log" | tail -12 ;;
        *) echo "unknown stage $stage" >&2; exit 2 ;;
    esac
done
