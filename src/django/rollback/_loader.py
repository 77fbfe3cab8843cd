"""Loads the rollback modules from the text itself and runs the entry, main.main().

Nothing can be written to disk in the application's container, so every module of src/django/rollback/
travels as source inside this text: src/django/scripts.ts fills in _DMR_MODULES. A finder on
sys.meta_path serves them to the modules' own import statements, under names no Django project uses
(_dmr_rollback_<file>), compiled under file names such as rollback/plan.py, and gives linecache their
source, so tracebacks name the module and show its lines.

The bootstrap exec()s this text in one globals dict, after the self-stop prelude (src/django/self_stop.py)
when there is one: names here start with _dmr_ to stay out of its way. Python 3.8+, stdlib only.
"""
import importlib.util as _dmr_importlib_util
import sys as _dmr_sys


class _DmrSources(object):
    """Finder and loader of the modules in `modules`: {module name: (file name, source)}."""

    def __init__(self, modules):
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name not in self.modules:
            return None
        return _dmr_importlib_util.spec_from_loader(name, self, origin=self.modules[name][0])

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        module.__file__ = self.modules[module.__name__][0]
        exec(self.get_code(module.__name__), module.__dict__)

    def get_code(self, name):
        filename, source = self.modules[name]
        return compile(source, filename, "exec", dont_inherit=True)

    def get_source(self, name):
        return self.modules[name][1]

    def is_package(self, name):
        return False


# scripts.ts replaces this line with the modules, as a Python literal in ASCII (any stdin encoding reads it).
_DMR_MODULES = {}

_dmr_sys.meta_path.insert(0, _DmrSources(_DMR_MODULES))
from _dmr_rollback_main import main as _dmr_main  # served by the finder just installed

_dmr_main()
