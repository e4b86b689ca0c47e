"""The shells that serve: the HTTP API (`server`), its WebSocket route (`websocket`) over the
live decoder (`live`), the transport guards (`guards`) and the page (`web/`). Extra `[server]`."""
