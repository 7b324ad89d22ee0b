"""Train kbert.

    python train.py                        the main job: pretrain on the embedded corpus, fine-tune the sentiment
                                           demo, evaluate both, export both to saved_models/, print a summary
    python train.py pretrain [CORPUS] ...  pretrain on your text (a file, directory or glob)
    python train.py finetune [FILE] ...    fine-tune a classifier on a CSV, TSV or JSONL file
    python train.py evaluate RUN_DIR       evaluate a run's newest checkpoint on its held-out data
    python train.py export RUN_DIR         export a run's newest checkpoint for the app (saved_models/)

Every option can also come from a JSON or YAML file (--config-file); options given on the command line win.
A run started again with the same command resumes from its newest intact checkpoint; until its first checkpoint it
may start over with other settings. One run at a time writes to an output directory. An error is one line;
KBERT_TRACEBACK=1 shows its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kbert.training.jobs import JOBS, Job, job_of_run  # noqa: E402

# Settings whose flag is not just the field name.
_FLAGS = {"bert_config": "--config"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default=argparse.SUPPRESS,
                        help="where the main job writes (default: runs/default)")
    parser.add_argument("--config-file", help="JSON or YAML settings with 'pretrain:' and 'finetune:' sections")
    parser.add_argument("--strategy", default=argparse.SUPPRESS, help="auto, default, mirrored, multi_worker or tpu")
    parser.add_argument("--tpu", default=argparse.SUPPRESS, help="TPU name or address")
    parser.add_argument("--models-dir", default="saved_models",
                        help="where the main job exports its models for the app (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", metavar="{" + ",".join([*JOBS, "evaluate", "export"]) + "}")
    for job in JOBS.values():
        sub = commands.add_parser(job.name, help=job.help, description=job.help)
        sub.add_argument("--config-file", help="JSON or YAML file of settings (flags given here win)")
        _add_settings_arguments(sub, job)
    evaluate = commands.add_parser("evaluate", help="evaluate a run's newest checkpoint on held-out data")
    evaluate.add_argument("run_dir", help="a pretraining or fine-tuning run directory")
    evaluate.add_argument("--eval-file", help="labelled file to evaluate a fine-tuned classifier on "
                                              "(default: the run's own held-out data)")
    export = commands.add_parser("export", help="export a run's newest checkpoint as a SavedModel for the app")
    export.add_argument("run_dir", help="a pretraining or fine-tuning run directory")
    export.add_argument("--models-dir", default="saved_models", help="where models go (default: %(default)s)")
    export.add_argument("--name", help="the model's name there (default: the run directory's name)")
    return parser


def _add_settings_arguments(parser: argparse.ArgumentParser, job: Job) -> None:
    """One option per field of the job's settings (booleans get --x / --no-x; its positional field is an argument);
    only options given reach the settings."""
    hints = typing.get_type_hints(job.settings)
    for field in dataclasses.fields(job.settings):
        options = [t for t in typing.get_args(hints[field.name]) or (hints[field.name],) if t is not type(None)]
        text = field.metadata["help"]
        text = text if "default" in text else f"{text} (default: {field.default})"
        kwargs = {"default": argparse.SUPPRESS, "help": text}
        if options == [bool]:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = options[0]
        if field.name == job.positional:
            parser.add_argument(field.name, nargs="?", metavar=field.name.upper(), **kwargs)
        else:
            flag = _FLAGS.get(field.name, "--" + field.name.replace("_", "-"))
            parser.add_argument(flag, dest=field.name, **kwargs)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from kbert.training.loop import TrainingDiverged
    from kbert.training.machine import record_command
    from kbert.training.run_lock import RunDirectoryInUse

    record_command(__file__, sys.argv[1:] if argv is None else list(argv))

    try:
        return _run(args)
    except TrainingDiverged as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, RunDirectoryInUse) as error:  # what kbert raises for bad input
        if os.environ.get("KBERT_TRACEBACK"):
            raise  # the whole traceback, for an error that is kbert's and not the input's
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from kbert.training import exporting, main_job

    if args.command in JOBS:
        result = JOBS[args.command].run(job_settings(args))
        print(json.dumps({"run_dir": result.run_dir, "steps": result.steps, "evaluation": result.evaluation,
                          "references": result.references}, indent=2))
    elif args.command == "evaluate":
        job, _ = job_of_run(args.run_dir)
        print(json.dumps(job.evaluate_run(args.run_dir, args.eval_file), indent=2))
    elif args.command == "export":
        print(exporting.export_run(args.run_dir, args.models_dir, args.name))
    else:
        print("\n" + main_job.run_main_job(job_settings(args)))
    return 0


def job_settings(args: argparse.Namespace):
    """The settings of the job `args` ask for: defaults, then the settings file, then the options given.

    For a job's subcommand, its settings (from a main-job file, its matching section); for the main job,
    a `MainJob`."""
    from kbert.training import main_job
    from kbert.training.run_config import load_settings_file, settings_from, settings_section

    given = {key: value for key, value in vars(args).items() if key not in ("command", "config_file", "models_dir")}
    values = load_settings_file(args.config_file) if args.config_file else {}
    if not args.command:
        output_dir = given.pop("output_dir", main_job.DEFAULT_OUTPUT_DIR)
        return main_job.main_job_settings(output_dir, values, given, args.models_dir)
    if set(values) <= set(main_job.SECTIONS):  # a main-job file: take this job's section
        values = settings_section(values, args.command, args.config_file)
    return settings_from(JOBS[args.command].settings, {**values, **given}, args.config_file or "settings")


if __name__ == "__main__":
    sys.exit(main())
