#!/usr/bin/env python3
"""Print what a Vulkan loader offers: instance extensions, and per physical device its name,
type, API version, and whether it has the extensions/features Chromium and Dawn need for WebGPU
on Linux (external memory and semaphore fds, dma-buf, DRM format modifiers, samplerYcbcrConversion).

    python3 vkinfo.py [LIBVULKAN]           (default libvulkan.so.1; ICDs from the usual env vars)
    python3 vkinfo.py --create [LIBVULKAN]  also: vkCreateDevice on each device with no extension,
                                            each wanted one alone (with what it requires), and all
                                            of them, each in a fresh process (this script run
                                            again: the NVIDIA driver does not survive a fork after
                                            an instance; a crash is reported with its signal, not
                                            fatal): which extension a crashing browser GPU process
                                            may have asked for

A diagnostic for the GPU machine, which has no vulkaninfo. It uses ctypes only.
"""

from __future__ import annotations

import ctypes as C
import sys

WANTED = ["VK_KHR_external_memory_fd", "VK_EXT_external_memory_dma_buf", "VK_EXT_image_drm_format_modifier",
          "VK_KHR_external_semaphore_fd", "VK_KHR_swapchain", "VK_EXT_queue_family_foreign",
          "VK_KHR_sampler_ycbcr_conversion", "VK_EXT_headless_surface", "VK_KHR_surface"]
TYPES = {0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"}


class ExtProps(C.Structure):
    _fields_ = [("name", C.c_char * 256), ("spec", C.c_uint32)]


class AppInfo(C.Structure):
    _fields_ = [("sType", C.c_int), ("pNext", C.c_void_p), ("app", C.c_char_p), ("appv", C.c_uint32),
                ("eng", C.c_char_p), ("engv", C.c_uint32), ("api", C.c_uint32)]


class InstInfo(C.Structure):
    _fields_ = [("sType", C.c_int), ("pNext", C.c_void_p), ("flags", C.c_uint32), ("app", C.POINTER(AppInfo)),
                ("nl", C.c_uint32), ("layers", C.c_void_p), ("ne", C.c_uint32), ("exts", C.c_void_p)]


def exts(fn, *args) -> list[str]:
    n = C.c_uint32(0)
    fn(*args, None, C.byref(n), None)
    arr = (ExtProps * n.value)()
    fn(*args, None, C.byref(n), arr)
    return sorted(e.name.decode() for e in arr)


class QueueInfo(C.Structure):
    _fields_ = [("sType", C.c_int), ("pNext", C.c_void_p), ("flags", C.c_uint32), ("family", C.c_uint32),
                ("count", C.c_uint32), ("prio", C.POINTER(C.c_float))]


class DevInfo(C.Structure):
    _fields_ = [("sType", C.c_int), ("pNext", C.c_void_p), ("flags", C.c_uint32), ("nq", C.c_uint32),
                ("queues", C.POINTER(QueueInfo)), ("nl", C.c_uint32), ("layers", C.c_void_p),
                ("ne", C.c_uint32), ("exts", C.POINTER(C.c_char_p)), ("features", C.c_void_p)]


# what each wanted device extension needs enabled with it (beyond Vulkan 1.1 core)
REQUIRES = {"VK_EXT_external_memory_dma_buf": ["VK_KHR_external_memory_fd"],
            "VK_EXT_image_drm_format_modifier": ["VK_KHR_image_format_list"]}


def try_create(lib: str, index: int, names: list[str]) -> None:
    """vkCreateDevice on device `index` with extensions `names`, in a fresh process; prints the outcome."""
    import subprocess
    r = subprocess.run([sys.executable, __file__, "--one", lib, str(index), *names], capture_output=True, text=True)
    what = (f"killed by signal {-r.returncode}" if r.returncode < 0 else r.stdout.strip() or f"exit {r.returncode}")
    tail = " | ".join(r.stderr.strip().splitlines()[-2:])
    print(f"    vkCreateDevice [{' '.join(names) or 'no extensions'}]: {what}" + (f" ({tail})" if tail else ""), flush=True)


def create_one(vk, index: int, names: list[str]) -> int:
    """(--one) an instance, then vkCreateDevice on device `index` with `names`; prints the VkResult."""
    inst, devs = instance(vk)
    prio = (C.c_float * 1)(1.0)
    q = QueueInfo(2, None, 0, 0, 1, prio)
    arr = (C.c_char_p * max(len(names), 1))(*[n.encode() for n in names])
    info = DevInfo(3, None, 0, 1, C.pointer(q), 0, None, len(names), arr, None)
    out = C.c_void_p()
    r = vk.vkCreateDevice(C.c_void_p(devs[index]), C.byref(info), None, C.byref(out))
    print("created" if r == 0 else f"VkResult {r}")
    if r == 0:
        vk.vkDestroyDevice(out, None)
    return 0


def instance(vk):
    app = AppInfo(0, None, b"vkinfo", 1, b"none", 1, (1 << 22) | (3 << 12))  # VK_API_VERSION_1_3
    info = InstInfo(1, None, 0, C.pointer(app), 0, None, 0, None)
    inst = C.c_void_p()
    r = vk.vkCreateInstance(C.byref(info), None, C.byref(inst))
    if r != 0:
        raise SystemExit(f"vkCreateInstance failed: {r}")
    n = C.c_uint32(0)
    vk.vkEnumeratePhysicalDevices(inst, C.byref(n), None)
    devs = (C.c_void_p * n.value)()
    vk.vkEnumeratePhysicalDevices(inst, C.byref(n), devs)
    return inst, list(devs)


def main() -> int:
    if sys.argv[1:2] == ["--one"]:
        return create_one(C.CDLL(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    create = "--create" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--create"]
    lib = args[0] if args else "libvulkan.so.1"
    vk = C.CDLL(lib)
    inst_exts = exts(vk.vkEnumerateInstanceExtensionProperties)
    print("instance extensions:", " ".join(inst_exts))
    inst, devs = instance(vk)
    props = (C.c_uint8 * 1024)()                 # VkPhysicalDeviceProperties (~824 bytes)
    for index, d in enumerate(devs):
        vk.vkGetPhysicalDeviceProperties(C.c_void_p(d), props)
        raw = bytes(props)
        api, drv, vendor, device, typ = (int.from_bytes(raw[i:i + 4], "little") for i in range(0, 20, 4))
        name = raw[20:276].split(b"\0")[0].decode()
        have = set(exts(vk.vkEnumerateDeviceExtensionProperties, C.c_void_p(d)))
        print(f"device: {name} vendor=0x{vendor:04x} device=0x{device:04x} type={TYPES.get(typ, typ)} "
              f"api={api >> 22}.{(api >> 12) & 0x3ff}.{api & 0xfff} extensions={len(have)}")
        print("   ", " ".join(f"{w}={'yes' if w in have else 'NO'}" for w in WANTED if not w.endswith("surface")))
        if create:
            sys.stdout.flush()
            wanted = [w for w in WANTED if w in have and not w.endswith("surface")]
            try_create(lib, index, [])
            for w in wanted:
                try_create(lib, index, [x for x in REQUIRES.get(w, []) if x in have] + [w])
            try_create(lib, index, sorted({x for w in wanted for x in REQUIRES.get(w, []) if x in have} | set(wanted)))
    vk.vkDestroyInstance(inst, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
