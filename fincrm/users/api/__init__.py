"""The users app's API: one router made of its parts."""

from ninja import Router

from fincrm.users.api import accounts, me, tokens

router = Router()
router.add_router("", me.router)
router.add_router("", accounts.router)
router.add_router("", tokens.router)
