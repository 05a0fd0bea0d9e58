# Two stages: build a static binary, then run it on a minimal base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/agentpresence .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentpresence /agentpresence
ENV PORT=8080
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK NONE
ENTRYPOINT ["/agentpresence"]
