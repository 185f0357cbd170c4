"""``{% load i18n fincrm_i18n %}``: ``{% translate "literal" %}`` without the lazy string that
Django's tag builds and then renders for every use (more than a third of its cost; the 360 page
translates about a hundred labels).

Load it after ``i18n``: its ``translate`` (and ``trans``) then stands for Django's. A literal
message, with or without ``as var``, is looked up with the same ``gettext`` and written as Django's
tag writes it; every other form (a variable, filters, ``context``, ``noop``) is Django's tag itself.
``makemessages`` finds the messages as before (it reads the tag's name, not its library). Tests
compare the output with Django's for every message the templates use.
"""

from __future__ import annotations

from django import template
from django.template.base import Parser, Token
from django.templatetags.i18n import TranslateNode, do_translate
from django.utils.safestring import SafeString
from django.utils.translation import gettext

register = template.Library()


class LiteralTranslateNode(TranslateNode):
    def __init__(self, node: TranslateNode) -> None:
        super().__init__(node.filter_expression, node.noop, node.asvar, node.message_context)
        expression = node.filter_expression
        self.message: SafeString | None = None
        if (
            not expression.filters
            and expression.var.lookups is None
            and isinstance(expression.var.literal, str)
            and not node.noop
            and not node.message_context
        ):
            # What Django's Variable.resolve hands to gettext_lazy: percent signs doubled, safe.
            self.message = SafeString(expression.var.literal.replace("%", "%%"))

    def render(self, context: template.Context) -> str:
        if self.message is None:
            return super().render(context)
        # gettext of a safe message is safe; the percent signs are restored as Django's tag does.
        value = SafeString(gettext(self.message).replace("%%", "%"))
        if self.asvar:
            context[self.asvar] = value
            return ""
        return value


@register.tag("translate")
@register.tag("trans")
def translate(parser: Parser, token: Token) -> LiteralTranslateNode:
    node = do_translate(parser, token)
    assert isinstance(node, TranslateNode)
    return LiteralTranslateNode(node)
