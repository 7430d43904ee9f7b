# Kiwame web image: the Flask service, gunicorn, and the sandbox (numpy + CPU torch) in one process tree.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    KIWAME_INSTANCE_DIR=/var/lib/kiwame

WORKDIR /app

# The CPU wheel first, from PyTorch's own index, so the project install never pulls a CUDA build
# (the commented gpu-worker in docker-compose.yml passes a CUDA index instead).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install "torch>=2.2,<2.15" --index-url "$TORCH_INDEX_URL"

# Dependencies before the code, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
COPY service/__init__.py service/__init__.py
RUN pip install -e . && rm -rf service

# Exercises and migrations are read from the checkout next to the package (see service/config.py).
COPY . .
RUN pip install --no-deps -e . && mkdir -p "$KIWAME_INSTANCE_DIR" \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin kiwame \
    && chown kiwame "$KIWAME_INSTANCE_DIR"

EXPOSE 8000
# The web tier runs as `kiwame` (uid 10001, see docker-compose.yml); the worker stays root because the
# sandbox creates namespaces and installs seccomp filters: see its cap_add/security_opt there.
CMD ["kiwame", "serve", "--host", "0.0.0.0", "--port", "8000"]
