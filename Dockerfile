# Production image: one image for web and worker replicas.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PORTAL_ENV=production \
    PORTAL_DATA_DIR=/data

# WeasyPrint needs Pango and fonts; curl serves the health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b \
    fonts-dejavu-core curl \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv \
 && useradd --create-home --uid 10001 portal \
 && mkdir -p /data && chown portal /data

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY portal ./portal
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY policies ./policies
RUN uv sync --frozen --no-dev

USER portal
ENV PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
CMD ["portal", "serve", "--host", "0.0.0.0", "--port", "8000"]
