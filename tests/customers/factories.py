"""Customer factories: valid, varied rows written straight through the ORM (services are tested
on their own); search terms are kept in step like the services do."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import factory

from fincrm.customers.models import Customer, CustomerKind, LifecycleStage, Tag
from fincrm.customers.search_terms import name_pinyin, refresh_search_terms
from fincrm.org.models import OrgUnit

NAMES = ["张三", "李四", "王五", "欧阳娜娜", "单田芳", "曾国藩", "解晓东", "仇英", "司马光", "赵敏"]
# Valid resident IDs (GB 11643 check characters), one per name above.
RESIDENT_IDS = [
    "11010519491231002X",
    "110101199003070011",
    "440305196405200017",
    "310104198501011235",
    "320102197612120412",
    "510104198808088875",
    "330106199512310020",
    "420106200001010015",
    "120101196610100014",
    "370102198203030049",
]


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(n: int, *, region: str = "110105") -> str:
    """A valid resident ID, different for every n (born from 1960 on, n days apart)."""
    born = date(1960, 1, 1) + timedelta(days=n % 20000)
    body = f"{region}{born:%Y%m%d}{n // 20000 % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    customer_number = factory.Sequence(lambda n: f"T{n:09d}")
    kind = CustomerKind.INDIVIDUAL
    name = factory.Sequence(lambda n: NAMES[n % len(NAMES)])
    name_pinyin = factory.LazyAttribute(lambda o: name_pinyin(o.name))
    lifecycle_stage = LifecycleStage.CUSTOMER
    mobile = factory.Sequence(lambda n: f"+86138{n % 100000000:08d}")
    id_type = "resident_id"
    id_number = factory.Sequence(lambda n: resident_id(n))
    org_unit = factory.LazyFunction(lambda: OrgUnit.objects.get(code="SB-A1"))

    @classmethod
    def _create(cls, model_class: type[Customer], *args: Any, **kwargs: Any) -> Customer:
        customer = super()._create(model_class, *args, **kwargs)
        refresh_search_terms([customer])
        return customer


def corporate_group(manager: Any) -> tuple[Customer, Customer]:
    """A group of three companies: (parent, child) in ``manager``'s book, a second subsidiary in
    nobody's."""
    company = {"kind": "corporate", "id_type": "uscc"}
    parent = CustomerFactory(name="华信控股集团有限公司", primary_manager=manager, **company)
    child = CustomerFactory(
        name="华信科技有限公司", primary_manager=manager, parent_company=parent, **company
    )
    CustomerFactory(name="华信物流有限公司", parent_company=parent, **company)
    return parent, child


class TagFactory(factory.django.DjangoModelFactory[Tag]):
    class Meta:
        model = Tag

    label = factory.Sequence(lambda n: f"tag-{n}")
