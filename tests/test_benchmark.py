"""The benchmark's analytic FLOP counts and its README section (the timing runs are `make bench`'s job)."""

import pytest

from mnist_study.bench.benchmark_report import markdown_section, splice_section
from mnist_study.core.models import build_model
from mnist_study.reports.summary import BENCHMARK_END, BENCHMARK_START
from mnist_study.study.training_cost import forward_flops_per_image


def test_lenet5_flops_by_hand():
    conv1 = 2 * 28 * 28 * 6 * 5 * 5 * 1
    conv2 = 2 * 10 * 10 * 16 * 5 * 5 * 6
    dense = 2 * (400 * 120 + 120 * 84 + 84 * 10)
    assert forward_flops_per_image(build_model("lenet5")) == conv1 + conv2 + dense == 833_040
    assert forward_flops_per_image(build_model("feedforward")) == 2 * (784 * 128 + 128 * 64 + 64 * 10)


def _report():
    model = {"parameters": 1000, "forward_flops_per_image": 2_000_000, "train_images_per_s": 5000.0,
             "train_gflops_per_s": 30.0, "inference_images_per_s": 20000.0, "inference_gflops_per_s": 40.0,
             "bfloat16_train_images_per_s": 7500.0, "bfloat16_train_gflops_per_s": 45.0}
    return {
        "matmul_peak_gflops": 100.0,
        "bfloat16_matmul_peak_gflops": 200.0,
        "models": {"lenet5": model},
        # 6 TFLOP: 1 min at the float32 peak, 0.5 at the bfloat16 peak, 2.2 at the fastest rate (45 GFLOP/s).
        "training_cost": {"03_cnn_architectures": {"runs": 12, "flops": 6e12, "wall_time_s": 600.0}},
        "time_to_accuracy": {"study": {"seconds_to_target": 20.0}, "reference": {"seconds_to_target": 50.0},
                             "ratio": 0.4, "eval_every": 200},
        "determinism": {"slowdown": 1.25},
        "dataset_loading_s": {"mnist": 0.2, "fashion_mnist": 0.3},
        "memory": {"notebook": "01_feedforward", "peak_rss_mb": 1500.0},
        "workers": {"model": "cnn_batchnorm", "global_batch": 128, "one_worker_images_per_s": 2000.0,
                    "two_workers_images_per_s": 1500.0, "speed_up": 0.75, "cpu_count": 2},
        "provenance": {"cpu": "test CPU", "cpu_count": 2, "started_at": "2026-01-01T00:00:00+00:00"},
    }


def test_section_states_the_measurements():
    section = markdown_section(_report())
    assert "| lenet5 | 1,000 | 2.00 | 5,000 | 30.0 | 30.0 | 7,500 | 22.5 | 20,000 |" in section
    assert "| 03_cnn_architectures | 12 | 6 | 1.0 | 0.5 | 2.2 | 10.0 |" in section
    assert "| all | 12 | 6 | 1.0 | 0.5 | 2.2 | 10.0 |" in section
    assert "fastest training rate measured above (lenet5, mixed bfloat16, 45 GFLOP/s)" in section
    assert "study's regularized CNN 20.0 s, keras-io reference recipe 50.0 s; ratio 0.40" in section
    assert "1.25x" in section and "1,500 MB" in section
    assert "with one process: 2,000 images/s; with two local workers (MultiWorkerMirroredStrategy over 127.0.0.1): " \
        "1,500 images/s, 0.75x" in section


def test_section_is_spliced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Results\n\nkept\n")
    splice_section(readme, "first")
    splice_section(readme, "second")
    text = readme.read_text()
    assert text.count(BENCHMARK_START) == 1 and "first" not in text
    assert f"{BENCHMARK_START}\nsecond\n{BENCHMARK_END}" in text and "kept" in text


def test_models_are_built_in_the_asked_precision_and_the_policy_restored():
    import keras

    from mnist_study.bench.measure import build_in_precision

    before = keras.mixed_precision.global_policy().name
    model = build_in_precision("lenet5", "mixed_bfloat16")
    assert model.get_layer(index=1).compute_dtype == "bfloat16"
    assert model.get_layer("probabilities").compute_dtype == "float32"  # the head stays float32
    assert keras.mixed_precision.global_policy().name == before


def test_cpu_features_are_read_from_the_flags_line():
    from mnist_study.bench.benchmark_epochs import cpu_features

    cpuinfo = "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512f avx512_bf16 sse\n"
    assert cpu_features(cpuinfo) == {"avx2": True, "avx512f": True, "avx512_bf16": True, "avx512_vnni": False,
                                     "amx_tile": False, "amx_bf16": False}
    assert not any(cpu_features("").values())


def test_lever_section_gives_ratios_against_the_study_set_up():
    from mnist_study.bench.benchmark_epochs import LEVERS, as_json, lever_markdown

    table = {"cnn_batchnorm": {lever: 1000.0 for lever in LEVERS}}
    table["cnn_batchnorm"]["batch 256"] = 1500.0
    table["cnn_batchnorm"]["augmented, affine warps (before)"] = 500.0
    xla = {"cnn_batchnorm": {"without_xla": 1000.0, "with_xla": 800.0}}
    report = as_json(table, xla, {"avx512f": True, "amx_bf16": False})
    assert report["ratios"]["cnn_batchnorm"]["batch 256"] == 1.5
    section = lever_markdown(report)
    assert "CPU features: has avx512f; lacks amx_bf16." in section
    assert "each timed on epochs of 54,000 images" in section
    assert "| batch 256 | 1,500 (1.50x) |" in section
    assert "| XLA, op determinism off (own baseline) | 800 (0.80x) |" in section
    assert "cnn_batchnorm 500 -> 1,000 images/s (2.00x)" in section
    # The whole report carries the section once the levers are measured.
    assert section in markdown_section({**_report(), "epoch_levers": report})


def test_run_together_returns_each_json_line_and_kills_the_rest_on_failure():
    import sys
    import time

    import pytest

    from mnist_study.bench.benchmark_workers import run_together

    say = [sys.executable, "-c", "import json; print('noise'); print(json.dumps({'value': 1}))"]
    assert run_together([(say, None), (say, None)], timeout_s=60) == [{"value": 1}, {"value": 1}]
    fail = [sys.executable, "-c", "import sys; sys.stderr.write('bad TF_CONFIG'); sys.exit(3)"]
    wait = [sys.executable, "-c", "import time; time.sleep(60)"]
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="worker process failed:\nbad TF_CONFIG"):
        run_together([(fail, None), (wait, None)], timeout_s=60)
    assert time.perf_counter() - start < 30  # the waiting peer was killed, not waited for


def test_the_bench_times_the_recipe_notebook_03_chose(tmp_path):
    from mnist_study.bench.benchmark import STUDY_METRICS, study_recipe
    from mnist_study.workflow.provenance import read_json

    recorded = read_json(STUDY_METRICS)["provenance"]["parameters"]
    recipe = study_recipe()
    # Fields the recorded run predates (a newer recipe field) take their defaults; every recorded one is used.
    shared = recipe.as_dict().keys() & recorded.keys()
    assert {key: recorded[key] for key in shared} == {key: recipe.as_dict()[key] for key in shared}
    assert len(shared) >= len(recipe.as_dict()) - 1
    missing = tmp_path / "03_cnn_architectures.json"
    with pytest.raises(FileNotFoundError, match="03_cnn_architectures.json"):
        study_recipe(missing)


def test_every_lever_times_the_same_images_per_epoch(monkeypatch):
    """A fixed step count would give batch 128 a quarter of batch 512's images per epoch (and flatter the larger)."""
    import mnist_study.bench.measure as measure
    from mnist_study.bench.benchmark_epochs import epoch_throughput

    counts, prepared = [], measure.prepared_mnist
    monkeypatch.setattr(measure, "prepared_mnist", lambda side, count: counts.append(count) or prepared(side, count))
    monkeypatch.setattr(measure, "steady_images_per_s", lambda model, images_per_epoch, *args, **kwargs: 0.0)
    for batch_size in (128, 512):
        epoch_throughput("feedforward", batch_size=batch_size, images_per_epoch=1024)
    assert counts == [1024, 1024]


def test_stolen_cpu_time_is_the_steal_share_between_two_readings():
    from mnist_study.bench.benchmark_epochs import stolen_share

    # user nice system idle iowait irq softirq steal guest guest_nice: 400 jiffies pass, 100 of them stolen.
    before = "cpu  1000 0 100 5000 0 0 0 50 0 0"
    after = "cpu  1200 0 150 5050 0 0 0 150 200 0"
    assert stolen_share(before, after) == 0.25
    assert stolen_share("", after) is None and stolen_share(before, before) is None
    section = markdown_section({**_report(), "cpu_stolen_share": 0.25})
    assert "2026-01-01T00:00:00+00:00, with 25 % of the CPU time taken by the hypervisor" in section
    assert "hypervisor" not in markdown_section(_report())  # older reports have no reading
