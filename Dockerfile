FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md constraints.txt ./
COPY service ./service
COPY migrations ./migrations
# Editable install keeps migrations/ beside the package, where the service looks for it.
RUN pip install --no-cache-dir -c constraints.txt -e ".[redis]" \
    && useradd --system --no-create-home mrsm
USER mrsm
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)" || exit 1
CMD ["python", "-m", "service"]
