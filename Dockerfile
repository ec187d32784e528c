# One image for every farm role: worker, beat, flower, live, and the CLI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/strategies \
    BTFARM_STATE_DIR=/data/state \
    BTFARM_DUMP_DIR=/data/dump \
    BTFARM_SCHEDULE_FILE=/data/btfarm-schedule.toml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY workers ./workers
COPY orchestrator ./orchestrator
RUN pip install . && useradd --create-home --uid 1000 btfarm \
    && mkdir -p /data /strategies && chown btfarm /data /strategies

USER btfarm
WORKDIR /data
ENTRYPOINT ["btfarm"]
CMD ["--help"]
