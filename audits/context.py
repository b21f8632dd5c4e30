from contextvars import ContextVar

current_ip: ContextVar[str] = ContextVar("current_ip", default="")
