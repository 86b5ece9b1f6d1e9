# The dynamic list of safehoused (CMakeLists.txt): every unversioned
# undefined symbol of the plugins in LIBS (paths joined by ':'), read with NM. A name
# the daemon does not define (cJSON's, say) is listed harmlessly; the
# versioned ones (libc's, libcurl's) are left out.
set(names "")
string(REPLACE ":" ";" libs "${LIBS}")
foreach(lib ${libs})
  execute_process(COMMAND ${NM} -D --undefined-only --format=posix ${lib}
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -D ${lib} failed")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line ${lines})
    if(line MATCHES "^([A-Za-z_][A-Za-z0-9_]*) U")
      list(APPEND names ${CMAKE_MATCH_1})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES names)
list(SORT names)
set(text "/* made by cmake/dynlist.cmake: what safehoused exports to its plugins */\n{\n")
foreach(n ${names})
  string(APPEND text "  ${n};\n")
endforeach()
string(APPEND text "};\n")
file(WRITE ${OUT} "${text}")
