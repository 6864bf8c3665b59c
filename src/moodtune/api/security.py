"""Security headers on every response: the page opens the camera, so it must not be framed,
sniffed, fed foreign scripts or leak its URLs to the sites it links to."""

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware", "content_security_policy"]

#: Swagger UI and ReDoc (files from fastapi-offline, served here) start from an inline script.
DOCS_PATHS = ("/docs", "/redoc")
_DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


#: Spotify's Web Playback SDK: its script, the iframe it plays in, and its own connections.
SPOTIFY_SDK = "https://sdk.scdn.co"


def content_security_policy(media_origins: Iterable[str] = (), *, spotify_sdk: bool = False) -> str:
    """The page's policy: its own scripts and styles only, nothing inline.

    ``media_origins`` are where audio may stream from besides this server (an S3 bucket's
    presigned URLs); Spotify's embed is the one frame the page shows, and with ``spotify_sdk``
    (Spotify login set up) Spotify's Web Playback SDK may load and connect.
    """
    media = " ".join(("'self'", "blob:", *media_origins))
    script = f"'self' {SPOTIFY_SDK}" if spotify_sdk else "'self'"
    frames = (
        f"https://open.spotify.com {SPOTIFY_SDK}" if spotify_sdk else "https://open.spotify.com"
    )
    connect = "'self' https://*.spotify.com wss://*.spotify.com" if spotify_sdk else "'self'"
    return (
        f"default-src 'none'; script-src {script}; style-src 'self'; "
        f"img-src 'self' data: blob:; media-src {media}; connect-src {connect}; "
        f"font-src 'self'; frame-src {frames}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


class SecurityHeadersMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware) so streaming responses stay streaming."""

    def __init__(
        self, app: ASGIApp, *, media_origins: Iterable[str] = (), spotify_sdk: bool = False
    ) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": content_security_policy(
                media_origins, spotify_sdk=spotify_sdk
            ),
            "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), "
            "usb=()",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                if docs:
                    headers["Content-Security-Policy"] = _DOCS_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)
