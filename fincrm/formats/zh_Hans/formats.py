# Amounts in Chinese banking documents are grouped by thousands (12,130,311.31); Django's zh_Hans
# locale groups nothing. Only templates that ask for grouping ({{ x|floatformat:"2g" }}) use this.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
