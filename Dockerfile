# syntax=docker/dockerfile:1
# Two images, both running as uid 10001 on bases pinned by digest (deploy/README.md):
#   docker build --target serving -t prompt-intent/serving:0.1.0 .   TorchServe 0.12 on CPU
#   docker build --target api -t prompt-intent/api:0.1.0 .           the intent API, without torch
# Python packages take their versions from requirements/constraints.txt, as `make setup` does.
# The model is not in either image: TorchServe reads it from /srv/model-store.

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS python
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# TorchServe's frontend needs Java 17. Only this image's JRE is copied: pinned by digest, it stays
# the same build after build, where an apt package would move with Debian's archive.
FROM eclipse-temurin:17-jre-jammy@sha256:e85989f3e4d136b3d7dde921e157fddb9c7016805a225c1ec483326b825b3ca5 AS java

FROM python AS serving-build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/constraints.txt /tmp/constraints.txt
# torch first and alone, from PyTorch's CPU index: PyPI's Linux wheel of the same version carries
# CUDA, several GB that a CPU server never uses.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# TorchServe, and what the handler packed in the archive imports; none of the training stack.
# A layer of its own, so a change here does not download torch again.
# hadolint ignore=DL3059
RUN pip install -c /tmp/constraints.txt \
        torchserve==0.12.0 torch-model-archiver==0.12.0 \
        transformers tokenizers safetensors pyyaml sentencepiece numpy

FROM python AS serving
# tini runs as PID 1 so that SIGTERM reaches start-torchserve.sh, which stops TorchServe cleanly.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 model-server \
    && useradd --uid 10001 --gid 10001 --home-dir /home/model-server --create-home \
        --shell /usr/sbin/nologin model-server \
    && install -d -o 10001 -g 10001 /srv/torchserve /srv/model-store
COPY --from=java /opt/java/openjdk /opt/java/openjdk
COPY --from=serving-build /opt/venv /opt/venv
COPY conf/serve/config.properties conf/serve/log4j2.xml /etc/torchserve/
COPY --chmod=0755 deploy/image/start-torchserve.sh /opt/serving/
COPY --chmod=0644 deploy/image/ping.py deploy/image/fetch_model.py /opt/serving/
# TorchServe writes key_file.json to its working directory (where ping.py looks for it), logs to
# LOG_LOCATION, and its pid file, worker sockets and unpacked archives to TEMP. Models load from
# the archive only. (hadolint takes TOKENIZERS_PARALLELISM for a secret; it is a tokenizers switch.)
# hadolint ignore=DL3064
ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/venv/bin:/opt/java/openjdk/bin:$PATH \
    MODEL_STORE=/srv/model-store \
    TEMP=/tmp \
    LOG_LOCATION=/srv/torchserve/logs \
    METRICS_LOCATION=/srv/torchserve/logs \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false
WORKDIR /srv/torchserve
USER 10001:10001
# inference, management, metrics
EXPOSE 8080 8081 8082
# /ping needs the inference key: ping.py reads it from TorchServe's key file, and renews keys
# about to expire, so a container up longer than token_expiration_min keeps answering.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/opt/serving/ping.py", "--renew"]
ENTRYPOINT ["tini", "--"]
CMD ["/opt/serving/start-torchserve.sh"]

FROM python AS api-build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/constraints.txt /tmp/constraints.txt
# The consumer side's dependencies only: the API reaches the model over HTTP, so no torch.
RUN pip install -c /tmp/constraints.txt \
        fastapi uvicorn httpx httpx-aiohttp aiohttp yarl prometheus-client pydantic pyyaml
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN pip install -c /tmp/constraints.txt --no-deps /build

FROM python AS api
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=api-build /opt/venv /opt/venv
# Labels, techniques and their templates are data in conf/; PROJECT_ROOT points the code at them.
COPY conf /opt/app/conf
ENV PATH=/opt/venv/bin:$PATH \
    PROJECT_ROOT=/opt/app \
    INTENT_API_HOST=0.0.0.0 \
    INTENT_API_PORT=8000
WORKDIR /opt/app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ['INTENT_API_PORT'])), 3).close()"]
CMD ["python", "-m", "api"]
