"""Pure decisions over data: desired vs live -> ordered changes; access expected vs granted.

No I/O, no clock, no environment: everything arrives as arguments, so every rule here is tested
from inline objects (tests/unit/test_plan*.py).
"""

from deployer.plan.changes import Action, Change, Plan, PlanOptions, plan_changes
from deployer.plan.compare import MANAGER, FieldChange, changes_to_apply, normalise
from deployer.plan.inventory import Inventory
from deployer.plan.keys import ObjectKey, key_of

__all__ = ["Action", "Change", "FieldChange", "Inventory", "MANAGER", "ObjectKey", "Plan", "PlanOptions",
           "changes_to_apply", "key_of", "normalise", "plan_changes"]
