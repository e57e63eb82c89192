"""Response exports: start a job, poll it, download or stream its file."""
