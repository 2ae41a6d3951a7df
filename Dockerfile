# Image for web, worker and beat (docker-compose.yml). Kept correct by reading: no Docker engine
# runs on the development machines.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home portal \
    && mkdir -p /app/var /app/media /app/staticfiles /app/backups \
    && chown -R portal /app/var /app/media /app/staticfiles /app/backups \
    && chmod 700 /app/backups
USER portal
EXPOSE 8000
