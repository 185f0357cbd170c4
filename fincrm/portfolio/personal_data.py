"""Data classes (JR/T 0171) and masks of the portfolio's fields: account numbers are encrypted
identifiers; balances, values and amounts are C2 financial information kept in clear columns
(summed and sorted), protected by the customer scopes and masked on export."""

from fincrm.security.classification import C1, C2, classify

classify("portfolio.Account.account_number", C2, "account", encrypted=True)
classify("portfolio.Account.number_last4", C2, "full", note="the last 4 digits, shown as 尾号1234")
classify("portfolio.Account.card_first6", C2, "full", note="a card's issuer BIN, shown with the last 4")
classify("portfolio.Account.balance", C2, "full", note="an amount: clear for sums, scoped")
classify("portfolio.Account.opened_on", C1)
classify("portfolio.Holding.amount", C2, "full", note="an amount: clear for sums, scoped")
classify("portfolio.Holding.market_value", C2, "full", note="an amount: clear for sums, scoped")
classify("portfolio.Holding.cash_value", C2, "full", note="an amount: clear for sums, scoped")
classify("portfolio.Transaction.amount", C2, "full", note="an amount: clear for sums, scoped")
classify("portfolio.Transaction.counterparty_account", C2, "account", encrypted=True)
classify("portfolio.AumSnapshot.total", C2, "full", note="an AUM figure: clear for sums, scoped")
classify("portfolio.AumSnapshot.mix", C2, "full", note="AUM by asset class")
