# A static ace-collector (CGO_ENABLED=0: pure-Go SQLite, no libc) on a distroless base.
#   docker build -t ace-collector .
#   docker run -v $PWD/ace-collector.ini:/etc/ace-collector/ace-collector.ini \
#              -v ace-collector-data:/var/lib/ace-collector ace-collector
# SIGTERM (docker stop) stops it cleanly; SIGHUP (docker kill -s HUP) reloads the configuration.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ace-collector ./cmd/ace-collector

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ace-collector /usr/local/bin/ace-collector
WORKDIR /var/lib/ace-collector
VOLUME ["/var/lib/ace-collector"]
EXPOSE 8765
ENTRYPOINT ["/usr/local/bin/ace-collector"]
CMD ["run", "-c", "/etc/ace-collector/ace-collector.ini"]
