# One device call: the CUDA tests, then the 30k-step GPU benchmark (graph, eager, bf16), logs to $OUT.
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/gpu.txt
lscpu | grep "Model name" | tee -a $OUT/gpu.txt
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site
python3 -c "import sys, torch, lightning, hydra; print(sys.version.split()[0], torch.__version__, lightning.__version__, hydra.__version__, torch.cuda.get_device_name())" 2>&1 | tee -a $OUT/gpu.txt
timeout 200 python3 -m pytest -p no:cacheprovider -n 0 -q -rs tests/training/test_cuda_graph.py 2>&1 | tee $OUT/cuda_tests.log
timeout 300 python3 benchmarks/train_throughput.py gpu --steps 30000 --repeats 1 --data-root .mnist 2>&1 | tee $OUT/gpu_bench.log
