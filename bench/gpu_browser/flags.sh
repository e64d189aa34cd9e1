# Chromium flag sets for WebGPU on the GPU machine; sourced by probe.sh and gen_bench.sh.
#   variant_flags NAME CHROME   sets `flags` (an array) and `icds` (VK_DRIVER_FILES value: the only drivers the loader loads)
# VK_ICD_JSON (NVIDIA's Vulkan ICD manifest) is added to the Vulkan loader's drivers in each set.
common_flags=(--headless --no-sandbox --disable-gpu-sandbox --no-first-run --no-default-browser-check
              --disable-background-networking --disable-component-update --disable-sync
              --enable-unsafe-webgpu --ignore-gpu-blocklist --enable-logging=stderr --log-level=0
              --vmodule=gpu_init=1,webgpu_decoder_impl=2,vulkan_instance=2,gpu_util=1)
# Skia (Chromium's compositor) on the driver's Vulkan: without it Chromium on Linux offers WebGPU
# no Vulkan adapter but the fallback (webgpu_decoder_impl.cc). "native" (kForcedNative) skips
# CheckVulkanCompatibilities, which refuses Vulkan on a non-X11 ozone platform; no surface, as
# NVIDIA has no VK_EXT_headless_surface.
vknative_flags=(--enable-features=Vulkan --use-vulkan=native --disable-vulkan-surface)

variant_flags() {
  local sw_icd; sw_icd=$(dirname "$2")/vk_swiftshader_icd.json
  icds=${VK_ICD_JSON:-}
  case $1 in
    # the control: GL on SwiftShader (SwANGLE); Chromium then marks WebGPU "software" and forces
    # its fallback adapter (gpu_util.cc, webgpu_decoder_impl.cc)
    swangle)             flags=(--use-gl=angle --use-angle=swiftshader --enable-unsafe-swiftshader --enable-features=Vulkan) ;;
    swangle-vknative)    flags=(--use-gl=angle --use-angle=swiftshader --enable-unsafe-swiftshader "${vknative_flags[@]}") ;;
    # GL on ANGLE-Vulkan; ANGLE's headless display wants VK_EXT_headless_surface from the
    # instance, which SwiftShader's ICD supplies beside NVIDIA's
    anglevk-vknative)    flags=(--use-gl=angle --use-angle=vulkan "${vknative_flags[@]}"); icds=$icds${icds:+:}$sw_icd ;;
    anglevk-interop)     flags=(--use-gl=angle --use-angle=vulkan --enable-features=ForceEnableWebGpuInterop); icds=$icds${icds:+:}$sw_icd ;;
    # GL on the driver's EGL through ANGLE: @sparticuz/chromium's shell has no EGL display type
    # for it ("Initialization of all (0) EGL display types failed"); Debian's chromium has
    egl-vknative)        flags=(--use-gl=angle --use-angle=gl-egl "${vknative_flags[@]}") ;;
    egl-interop)         flags=(--use-gl=angle --use-angle=gl-egl --enable-features=ForceEnableWebGpuInterop) ;;
    gldisabled-vknative) flags=(--use-gl=disabled "${vknative_flags[@]}") ;;
    # Skia on Graphite over Dawn's Vulkan instead of Chromium's own Vulkan device (whose creation
    # crashed the GPU process on the H100): webgpu_decoder_impl.cc accepts Graphite-Dawn-Vulkan too
    graphite-anglevk)    flags=(--use-gl=angle --use-angle=vulkan --enable-features=SkiaGraphite --enable-skia-graphite
                                --skia-graphite-backend=dawn-vulkan --disable-vulkan-surface); icds=$icds${icds:+:}$sw_icd ;;
    graphite-gldisabled) flags=(--use-gl=disabled --enable-features=SkiaGraphite --enable-skia-graphite
                                --skia-graphite-backend=dawn-vulkan --disable-vulkan-surface) ;;
    *) return 1 ;;
  esac
}
