# claude-runner server image: the Swift build, then a slim runtime with git, Node.js and the Claude Code CLI.
# It runs as a non-root user whose home is /root, so the original image's volume paths keep working:
#   docker build -t claude-runner .
#   docker run -d --user "$(id -u):$(id -g)" -v ~/.claude:/root/.claude \
#     -v ~/.flarex/claude-runner:/root/.flarex/claude-runner claude-runner
# The HEALTHCHECK asks GET /healthz on 127.0.0.1:8080 (plain HTTP, the default --http --http-addr :8080);
# give `docker run --health-cmd ...` for another address or HTTPS.
FROM swift:6.3-noble AS build
# GRDB (the run ledger) builds against the system SQLite.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product claude-runner \
    && cp "$(swift build -c release --show-bin-path)/claude-runner" /usr/local/bin/claude-runner

FROM node:22-bookworm-slim
ARG CLAUDE_CODE_VERSION=latest
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates openssh-client curl libsqlite3-0 \
    && rm -rf /var/lib/apt/lists/* \
    && npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
    && npm cache clean --force \
    && useradd --uid 10001 --no-create-home --home-dir /root --shell /bin/bash runner \
    && mkdir -p /root/.claude /root/.flarex/claude-runner \
    && chown -R 10001:10001 /root && chmod 755 /root
COPY --from=build /usr/local/bin/claude-runner /usr/local/bin/claude-runner
ENV HOME=/root
USER 10001
WORKDIR /root
# Claude's login and the runner's config directory (config.yaml, id, user.creds, workspaces), at the
# same paths as the original image.
VOLUME ["/root/.claude", "/root/.flarex/claude-runner"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["claude-runner"]
