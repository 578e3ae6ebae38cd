# predict-otron-9000: one image for every role (all-in-one server, inference replica, embeddings
# service, gateway); the role is chosen by the command (see docker-compose.yml, docs/docker.md).
# CPU only: the addon is the portable build (every ggml CPU variant, the best one picked at run
# time), so the image runs on any x86-64, not only on the CPU that built it.
#
# Both stages use the same exact Node release (20.20.2, on Debian 12 bookworm), so the addon's
# N-API and glibc needs are met where it runs. Bump both lines together.

# --- builder: compilers, devDependencies, the native build, the TypeScript and the chat page ---
FROM node:20.20.2-bookworm-slim AS builder

# cmake + g++ + make build ggml and the addon (cmake-js drives CMake; N-API headers come from the
# node-api-headers package, nothing is downloaded); git unpacks the pinned llama.cpp source from
# node-llama-cpp's git bundle (scripts/fetch-ggml.mjs).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make git \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# the lockfile first: this layer is rebuilt only when the dependencies change.
# --ignore-scripts: our own install hook would build a CPU-tuned addon, and node-llama-cpp's
# postinstall would download llama.cpp binaries; neither belongs in the image.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# the native addon first: it takes minutes, and only native/, scripts/ and CMakeLists.txt decide
# it, so an edit to the TypeScript does not rebuild it. The portable build (scripts/prebuild.mjs,
# POTRON_NATIVE_CPU=OFF): prebuilds/linux-x64/ with node.napi.glibc.node, and libggml*.so and
# every libggml-cpu-*.so variant in glibc/ beside it, found through RPATH=$ORIGIN/glibc.
COPY CMakeLists.txt ./
COPY scripts/ scripts/
COPY native/ native/
RUN npm run prebuild

# dist/ and dist/webui, then the devDependencies (vite, typescript, node-llama-cpp's 100+ MB)
# are dropped from node_modules before the runtime stage copies it
COPY tsconfig.json ./
COPY src/ src/
COPY webui/ webui/
COPY bin/ bin/
RUN npm run build:ts \
 && npm run build:webui \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: Node and what the server loads, nothing to compile with ---
FROM node:20.20.2-bookworm-slim AS runtime

# libgomp1: ggml is built with OpenMP (GGML_OPENMP in CMakeLists.txt), so the libggml-cpu-*.so
# variants need libgomp.so.1, which the slim image lacks. No compiler is installed here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*

# the HF cache lives on a volume (models survive the container and are shared between replicas);
# created here and owned by the unprivileged user, so a fresh named volume inherits that owner.
ENV HF_HOME=/data/huggingface
RUN mkdir -p /data/huggingface && chown node:node /data/huggingface

WORKDIR /app

# only what runs: package.json (the version /v1/models reports, the root node-gyp-build
# searches), the CLI entry, the compiled JS with the chat page, the addon and the production
# dependencies. Owned by root and read-only to the server: it cannot rewrite its own code.
COPY --from=builder /app/package.json ./package.json
COPY --from=builder /app/bin/ ./bin/
COPY --from=builder /app/dist/ ./dist/
COPY --from=builder /app/prebuilds/ ./prebuilds/
COPY --from=builder /app/node_modules/ ./node_modules/

# PREDICT_OTRON_<FLAG> is read by `serve` for each flag it is not given (src/cli/serve.ts):
# listen on every interface of the container (the default 127.0.0.1 would be unreachable from
# outside it) on 8080. The token is looked up as HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the
# file at HF_TOKEN_PATH, where `docker run --secret` / compose secrets mount it. No token is
# ever written into the image: pass HF_TOKEN at run time or mount the secret.
ENV NODE_ENV=production \
    PREDICT_OTRON_HOST=0.0.0.0 \
    PREDICT_OTRON_PORT=8080 \
    HF_TOKEN_PATH=/run/secrets/hf_token

EXPOSE 8080
VOLUME /data/huggingface

USER node

# liveness: /health answers as soon as the server listens (models may still be downloading;
# /ready tells when they are loaded). node's own fetch, as the slim image has no curl. The
# start period covers a first start that downloads a model.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PREDICT_OTRON_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# `docker stop` sends SIGTERM: serve stops accepting, finishes the requests in flight (up to
# --shutdown-timeout, 30 s by default) and exits; give the container longer than that to stop.
STOPSIGNAL SIGTERM

# node is PID 1 and handles SIGTERM/SIGINT itself (serve installs both handlers)
ENTRYPOINT ["node", "bin/predict-otron.js"]
CMD ["serve"]
