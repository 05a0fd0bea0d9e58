# Two stages: build a static binary, then run it on a minimal base.
# The Go image pins the patched toolchain that go.mod names (toolchain
# go1.26.11): the official images set GOTOOLCHAIN=local, so a floating
# 1.26 tag would build with whatever 1.26.x it held.
FROM golang:1.26.11-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/agentpresence .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentpresence /agentpresence
ENV PORT=8080
EXPOSE 8080
# distroless's "nonroot" by number: Kubernetes's runAsNonRoot can only
# check a numeric user.
USER 65532:65532
# distroless has no shell or curl: the binary checks itself. Kubernetes
# ignores this and probes /healthz and /readyz (deploy/helm).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 CMD ["/agentpresence", "-healthcheck"]
ENTRYPOINT ["/agentpresence"]
