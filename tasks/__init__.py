"""Task plugins: the pipelines users run (``scipt finetune TASK``)."""
