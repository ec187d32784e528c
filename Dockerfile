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
COPY pyproject.toml setup.py README.md ./
COPY shared ./shared
COPY workers ./workers
COPY orchestrator ./orchestrator
# gcc only while pip builds the batch lane's C extension (setup.py), then removed
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
    && python -c "import btfarm.shared.engine._batch_kernel" \
    && useradd --create-home --uid 1000 btfarm \
    && mkdir -p /data /strategies && chown btfarm /data /strategies

USER btfarm
WORKDIR /data
ENTRYPOINT ["btfarm"]
CMD ["--help"]
