"""``edge run``: faces from a camera, file or folder, classified in real time (see edge/run/loop.py).

Every flag but --config, --print-pipeline and --json is a RunConfig field, whose default and help it reads
(``edge.commands.flags.option``): ``--detect-scale`` is ``haar.scale`` (``[haar]`` in a config file).
"""
from functools import partial
from typing import List, Optional

import typer

from edge import jsonsafe
from edge.commands.flags import option
from edge.commands.model_options import parse_labels, parse_size
from edge.config import cli_overrides, flag_keys
from edge.outputs.options import parse_wxh
from edge.run.config import RunConfig
from edge.service.hosts import parse_hosts

# {parameter name: config key} of every flag that is a RunConfig field ("detect_scale": "haar.scale").
CONFIG_KEYS = flag_keys(RunConfig)
NOT_CONFIG = ("config", "print_pipeline", "as_json")
flag = partial(option, RunConfig)  # flag("haar.scale"): the typer option of that field


def run(
    ctx: typer.Context,
    config: Optional[str] = typer.Option(None, "--config", help="Read the settings from this TOML/YAML file "
                                                               "(keys = the flags' long names with _ for -; "
                                                               "[haar], [blazeface], [objects], [people], "
                                                               "[mqtt], [webhook], [event_queue], [record], [output], "
                                                               "[serve] and [reconnect] sections); flags given on "
                                                               "the command line override it. `edge config show` "
                                                               "prints every key."),
    camera: str = flag("source"),
    model: str = flag("model"),
    backend: str = flag("backend"),
    threads: int = flag("threads"),
    labels: Optional[str] = flag("labels", parse=parse_labels),
    input_size: Optional[str] = flag("input_size", parse=parse_size),
    detector: str = flag("detector"),
    detect_scale: float = flag("haar.scale"),
    min_neighbors: int = flag("haar.min_neighbors"),
    min_size: int = flag("haar.min_size"),
    scale_factor: float = flag("haar.scale_factor"),
    cascade: str = flag("haar.cascade"),
    blazeface_model: str = flag("blazeface.model"),
    blazeface_grid: str = flag("blazeface.grid"),
    blazeface_scale: float = flag("blazeface.scale"),
    conf: float = flag("objects.conf"),
    iou: float = flag("objects.iou"),
    classes: Optional[str] = flag("objects.classes", parse=partial(parse_labels, flag="--classes")),
    max_det: int = flag("objects.max_det"),
    detector_labels: Optional[str] = flag("objects.labels", parse=partial(parse_labels, flag="--detector-labels")),
    detector_input_size: Optional[str] = flag("objects.input_size",
                                              parse=partial(parse_size, flag="--detector-input-size")),
    detector_layout: str = flag("objects.layout"),
    classify_classes: Optional[str] = flag("classify_classes",
                                           parse=partial(parse_labels, flag="--classify-classes")),
    detect_every: int = flag("detect_every"),
    width: int = flag("width"),
    height: int = flag("height"),
    fps: int = flag("fps"),
    flip: int = flag("flip"),
    capture: str = flag("capture"),
    threaded: bool = flag("threaded"),
    loop: bool = flag("loop"),
    headless: bool = flag("headless"),
    save: str = flag("save"),
    max_frames: int = flag("max_frames"),
    log: str = flag("log"),
    summary_every: float = flag("summary_every"),
    input_rtsp_latency: int = flag("input_rtsp_latency"),
    timeout: float = flag("timeout"),
    wait_for_source: bool = flag("wait_for_source"),
    log_max_mb: float = flag("log_max_mb"),
    log_keep: int = flag("log_keep"),
    telemetry_every: int = flag("telemetry_every"),
    serve: Optional[str] = flag("serve.address"),
    serve_token: Optional[str] = flag("serve.token"),
    serve_hosts: Optional[str] = flag("serve.hosts", parse=parse_hosts),
    serve_size: Optional[str] = flag("serve.size", parse=partial(parse_wxh, flag="--serve-size")),
    serve_fps: float = flag("serve.fps"),
    output: Optional[List[str]] = flag("output.uris"),
    bitrate: int = flag("output.bitrate"),
    output_fps: float = flag("output.fps"),
    output_size: Optional[str] = flag("output.size", parse=parse_wxh),
    encoder: str = flag("output.encoder"),
    reconnect_initial: float = flag("reconnect.initial"),
    reconnect_factor: float = flag("reconnect.factor"),
    reconnect_max_delay: float = flag("reconnect.max_delay"),
    reconnect_jitter: float = flag("reconnect.jitter"),
    reconnect_attempts: int = flag("reconnect.attempts"),
    record_dir: str = flag("record.dir"),
    record_events: str = flag("record.events"),
    record_pre: float = flag("record.pre"),
    record_post: float = flag("record.post"),
    record_max_gb: float = flag("record.max_gb"),
    record_max_days: float = flag("record.max_days"),
    record_min_free_gb: float = flag("record.min_free_gb"),
    record_fps: int = flag("record.fps"),
    people: bool = flag("people.enabled"),
    people_min_frames: int = flag("people.min_frames"),
    people_max_missing: int = flag("people.max_missing"),
    reclassify_every: int = flag("people.reclassify_every"),
    people_stats_every: float = flag("people.stats_every"),
    device_id: str = flag("people.device_id"),
    camera_name: str = flag("people.camera"),
    mqtt: str = flag("mqtt.url"),
    mqtt_user: str = flag("mqtt.username"),
    mqtt_password: str = flag("mqtt.password"),
    mqtt_ca: str = flag("mqtt.ca"),
    mqtt_cert: str = flag("mqtt.cert"),
    mqtt_key: str = flag("mqtt.key"),
    mqtt_discovery: bool = flag("mqtt.discovery"),
    mqtt_commands_per_s: float = flag("mqtt.commands_per_s"),
    webhook: str = flag("webhook.url"),
    webhook_token: str = flag("webhook.token"),
    webhook_timeout: float = flag("webhook.timeout"),
    webhook_max_delay: float = flag("webhook.max_delay"),
    event_queue: str = flag("event_queue.folder"),
    event_queue_max: int = flag("event_queue.max_events"),
    event_queue_max_mb: float = flag("event_queue.max_mb"),
    print_pipeline: bool = typer.Option(False, "--print-pipeline", help="Print the capture pipeline for the "
                                                                        "source and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Detect faces (or objects), classify all boxes of a frame in one batch, draw, log latency and FPS.

    Example: edge run --camera csi --detect-every 3 --log frames.jsonl
    Example: edge run --headless --max-frames 200     (the bundled sample video and model)
    Example: edge run --detector blazeface --log frames.jsonl
    Example: edge run --detector blazeface --blazeface-model face_detection_full_range.engine --blazeface-grid 3x2
    Example: edge run --config /etc/edge/config.toml --serve 127.0.0.1:8080   (as the service runs it)
    Example: edge run --model plain.onnx --labels with_mask,without_mask --input-size 128   (no metadata)
    Example: edge run --detector yolov8n.onnx --model none --conf 0.4   (a YOLO export: detection only)
    Example: edge run --detector yolov8n.onnx --model ppe.onnx --classify-classes person   (two stages)

    SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop after the current frame; the summary is written.
    """
    from edge.run.checks import load_run_config
    from edge.run.loop import describe_source
    from edge.run.loop import run as run_pipeline

    # the file, the flags, the start-up checks `edge config show` runs too: every problem in one line
    cfg = load_run_config(config, cli_overrides(ctx, CONFIG_KEYS, exclude=NOT_CONFIG), startup=not print_pipeline,
                          bind=True)
    if print_pipeline:
        typer.echo(describe_source(cfg))
        return
    summary = run_pipeline(cfg, echo=lambda line: typer.echo(line, err=True))
    if as_json:
        typer.echo(jsonsafe.dumps(summary))
    else:
        from edge.run.framelog import format_summary

        typer.echo(format_summary(summary))
