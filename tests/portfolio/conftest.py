from tests.support.english import client, english

__all__ = ["client", "english"]
