#!/usr/bin/env bash
# Benchmarks on the lent GPU machine (JAX + CUDA, no TensorFlow); see benchmarks/README.md.
#
#   bash benchmarks/gpu.sh STAGE [STAGE ...]      # from the repository root, with .whl/ carried
#
# Stages: info, distribute, score, train-xception, train-lensflow, train-bf16, train-batch,
# train-fp32. Each writes its output to $OUT/<stage>.txt (OUT defaults to benchmarks/out) and
# prints its table. JAX's persistent compilation cache (/tmp/jax-cache) lets the second side of
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
