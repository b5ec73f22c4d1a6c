# claude-runner server image: the Swift build, then a slim runtime with git, Node.js and the Claude Code CLI.
#   docker build -t claude-runner .
#   docker run -d -v ~/.claude:/home/runner/.claude -v ~/.flarex/claude-runner:/home/runner/.flarex/claude-runner \
#     -p 8080:8080 claude-runner --http
# No HEALTHCHECK yet: the runner has no health endpoint (planned with observability).
FROM swift:6.3-noble AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product claude-runner \
    && cp "$(swift build -c release --show-bin-path)/claude-runner" /usr/local/bin/claude-runner

FROM node:22-bookworm-slim
ARG CLAUDE_CODE_VERSION=latest
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates openssh-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
    && npm cache clean --force \
    && useradd --create-home --uid 10001 --shell /bin/bash runner
COPY --from=build /usr/local/bin/claude-runner /usr/local/bin/claude-runner
USER 10001
WORKDIR /home/runner
# Claude's login and the runner's config directory (config.yaml, id, user.creds, workspaces).
VOLUME ["/home/runner/.claude", "/home/runner/.flarex/claude-runner"]
EXPOSE 8080
ENTRYPOINT ["claude-runner"]
