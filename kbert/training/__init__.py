"""Training: pretraining and fine-tuning jobs, and the pieces they are made of.

    run_config.py    settings (defaults, JSON/YAML files, settings.json)     strategy.py   tf.distribute, precision
    pretraining.py   the pretraining job                                   finetuning.py  the fine-tuning job
    jobs.py          the kinds of job, registered by name                  exporting.py   a run -> saved_models/
    main_job.py      `python train.py`: both jobs, export, summary         runtime.py     what a job settles first
    loop.py          the training loop and evaluation                      tasks.py       a model and its objective
    optimization.py  AdamW/LAMB, warm-up + linear decay, clipping          checkpoints.py save, resume, load weights
    history.py       metrics.jsonl, TensorBoard scalars, learning curves   progress.py    live line, summary table
    restoring.py     a run read back: model, tokenizer, settings           starting_point.py  a run's first weights
"""
